-- accounts (MySQL): pseudonymise staff consistently from their id.
UPDATE users
SET name    = CONCAT('User ', LEFT(MD5(id), 8)),
    email   = CONCAT('user-', MD5(id), '@example.com'),
    address = CONCAT(id, ' Test Street');
