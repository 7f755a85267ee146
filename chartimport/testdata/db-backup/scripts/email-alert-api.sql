-- email-alert-api: subscribers are members of the public. Runs inside one
-- transaction on the restored shadow; the first error aborts the restore.

-- Pseudonymise addresses consistently: the same subscriber id always gives
-- the same address, so subscriptions still join up across runs.
UPDATE subscribers
SET address = 'subscriber-' || md5(id::text) || '@example.com'
WHERE address IS NOT NULL;

-- Sent emails carry addresses and personalised bodies: keep a week, blank
-- the rest of the payload.
DELETE FROM emails WHERE created_at < now() - interval '7 days';
UPDATE emails
SET address = 'subscriber-' || md5(subscriber_id::text) || '@example.com',
    body    = NULL,
    subject = 'Redacted'
WHERE subscriber_id IS NOT NULL;

-- Delivery attempts and their provider references.
DELETE FROM delivery_attempts WHERE created_at < now() - interval '7 days';
UPDATE delivery_attempts SET sent_at = NULL, provider_id = NULL;

-- Authentication tokens of subscribers' sign-in links.
UPDATE subscribers SET signon_user_uid = NULL WHERE signon_user_uid IS NOT NULL;
