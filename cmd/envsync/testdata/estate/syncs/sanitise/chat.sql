-- chat: questions come from members of the public and may name them. Runs
-- inside one transaction on the restored shadow; the first error aborts the
-- restore.

-- Keep the shape of recent conversations, without their words.
DELETE FROM conversations WHERE created_at < now() - interval '30 days';
UPDATE questions SET message = 'Redacted question ' || md5(id::text);
UPDATE answers   SET message = 'Redacted answer ' || md5(id::text), sources_json = NULL;

-- Signed-in users: pseudonymise consistently from the id.
UPDATE users
SET email = 'user-' || md5(id::text) || '@example.com',
    uid   = md5('uid' || id::text);
