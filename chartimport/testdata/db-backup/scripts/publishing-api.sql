-- publishing-api: remove access-limited drafts and event payloads before a
-- copy lands in staging. Runs inside one transaction on the restored
-- shadow; the first error aborts the restore.

-- Access-limited editions are unpublished work that names who may see it.
DELETE FROM editions
WHERE state = 'draft'
  AND id IN (SELECT edition_id FROM access_limits);
DELETE FROM access_limits;

-- Events hold every request payload ever sent: keep a month, without payloads.
DELETE FROM events WHERE created_at < now() - interval '30 days';
UPDATE events SET payload = NULL WHERE payload IS NOT NULL;

-- Staff accounts: pseudonymise consistently from the id.
UPDATE users
SET email = 'user-' || md5(id::text) || '@example.com',
    name  = 'User ' || left(md5(id::text), 8);

-- Bypass tokens grant access to draft content on the real site.
UPDATE editions SET auth_bypass_ids = '{}' WHERE auth_bypass_ids <> '{}';
