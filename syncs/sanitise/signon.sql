-- signon (MySQL): run on a scratch copy of signon_production before
-- production publishes it. Staff accounts: names and addresses
-- pseudonymised, every secret that could sign someone in removed.
UPDATE users SET
  name = CONCAT('User ', id),
  email = CONCAT('user-', id, '@example.invalid'),
  encrypted_password = NULL,
  otp_secret_key = NULL,
  reset_password_token = NULL,
  unlock_token = NULL,
  invitation_token = NULL,
  current_sign_in_ip = NULL,
  last_sign_in_ip = NULL;
DELETE FROM oauth_access_tokens;
DELETE FROM oauth_access_grants;

-- What else names a person: addresses a user is changing to, people
-- invited in batches, old password hashes and the IP addresses of sign-ins.
UPDATE users SET unconfirmed_email = NULL, password_salt = NULL, confirmation_token = NULL;
UPDATE batch_invitation_users
SET name  = CONCAT('Invitee ', id),
    email = CONCAT('invitee-', id, '@example.invalid');
DELETE FROM old_passwords;
UPDATE event_logs SET ip_address = NULL;
