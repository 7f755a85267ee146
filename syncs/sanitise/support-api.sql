-- support-api: feedback from the public can carry names, addresses and
-- phone numbers. Runs inside one transaction on the restored shadow; the
-- first error aborts the restore.

DELETE FROM anonymous_contacts WHERE created_at < now() - interval '90 days';
UPDATE anonymous_contacts
SET details    = 'Redacted feedback ' || md5(id::text),
    what_wrong = NULL,
    what_doing = NULL,
    user_agent = NULL;

UPDATE contacts
SET email = 'contact-' || md5(id::text) || '@example.com',
    phone = NULL
WHERE email IS NOT NULL OR phone IS NOT NULL;
