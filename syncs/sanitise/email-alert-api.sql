-- email-alert-api: subscribers are members of the public. Runs inside one
-- transaction on the restored shadow; the first error aborts the restore.
-- The tables are the app's public db/schema.rb (alphagov/email-alert-api).

-- Addresses are pseudonymised from the id: unique, as the index requires.
UPDATE subscribers
SET address = 'subscriber-' || md5(id::text) || '@example.com'
WHERE address IS NOT NULL;

-- Sent e-mails: a week is enough for developers; what remains keeps its
-- shape, not its recipient or its text.
DELETE FROM delivery_attempts WHERE email_id IN (SELECT id FROM emails WHERE created_at < now() - interval '7 days');
DELETE FROM emails WHERE created_at < now() - interval '7 days';
UPDATE emails
SET address = 'subscriber-' || md5(id::text) || '@example.com',
    subject = 'Redacted',
    body    = 'Redacted';
