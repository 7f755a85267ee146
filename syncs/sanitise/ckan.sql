-- ckan: remove personal data before integration. Runs inside one
-- transaction on the restored shadow; the first error aborts the restore.
-- Emails are replaced by a stable pseudonym derived from the user id, so the
-- same user gets the same address on every run.
UPDATE "user"
SET email    = 'user-' || md5(id) || '@example.com',
    fullname = 'User ' || left(md5(id), 8),
    apikey   = NULL,
    password = NULL,
    about    = NULL
WHERE sysadmin IS NOT TRUE OR email IS NOT NULL;

-- API tokens grant access to the real site's API.
DELETE FROM api_token;

-- Activity streams older than 90 days are noise for developers.
DELETE FROM activity WHERE "timestamp" < now() - interval '90 days';

-- Contact details of dataset maintainers.
UPDATE package
SET maintainer_email = CASE WHEN maintainer_email IS NULL THEN NULL
                            ELSE 'maintainer-' || md5(id) || '@example.com' END,
    author_email     = CASE WHEN author_email IS NULL THEN NULL
                            ELSE 'author-' || md5(id) || '@example.com' END;
