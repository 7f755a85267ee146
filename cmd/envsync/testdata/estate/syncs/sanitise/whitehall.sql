-- whitehall (MySQL): remove personal data before a copy lands in staging.
-- Runs inside one transaction on the restored shadow schema; the first
-- error aborts the restore.

-- Fact-check requests go to named people outside government.
UPDATE fact_check_requests
SET email_address = CONCAT('factcheck-', MD5(id), '@example.com'),
    comments      = NULL,
    instructions  = NULL;

-- Staff accounts: pseudonymise consistently from the id.
UPDATE users
SET email = CONCAT('user-', MD5(id), '@example.com'),
    name  = CONCAT('User ', LEFT(MD5(id), 8));

-- Access-limited editions are unpublished work.
DELETE FROM edition_authors
WHERE edition_id IN (SELECT id FROM editions WHERE access_limited = 1 AND state <> 'published');
DELETE FROM editions WHERE access_limited = 1 AND state <> 'published';

-- Old versions carry the state of every edit: keep six months.
DELETE FROM versions WHERE created_at < NOW() - INTERVAL 180 DAY;
UPDATE versions SET state = NULL WHERE item_type = 'User';
