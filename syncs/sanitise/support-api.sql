-- support-api: feedback from the public can carry names, addresses and
-- phone numbers in its free text. Runs inside one transaction on the
-- restored shadow; the first error aborts the restore. The tables are the
-- app's public db/schema.rb (alphagov/support-api).

DELETE FROM anonymous_contacts WHERE created_at < now() - interval '90 days';
UPDATE anonymous_contacts
SET details            = 'Redacted feedback ' || md5(id::text),
    what_wrong         = NULL,
    what_doing         = NULL,
    user_agent         = NULL,
    user_specified_url = NULL;

UPDATE content_improvement_feedbacks
SET description = 'Redacted feedback ' || md5(id::text);

-- Who asked for an export of feedback, by e-mail.
UPDATE feedback_export_requests
SET notification_email = 'export-' || md5(id::text) || '@example.com';

-- Signon accounts of staff.
UPDATE users
SET name  = 'User ' || left(md5(id::text), 8),
    email = 'user-' || md5(id::text) || '@example.com',
    uid   = md5(uid);
