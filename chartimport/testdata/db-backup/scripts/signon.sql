-- Integration accounts get a known password.
UPDATE users SET encrypted_password = '$2a$10$integration';
