-- content-store: remove what must not leave production before a copy lands
-- in staging or integration. Runs inside one transaction on the restored
-- shadow; the first error aborts the restore.

-- Access-limited drafts name the users and organisations allowed to see
-- them; the content itself is unpublished and stays in production.
DELETE FROM content_items WHERE access_limited::text NOT IN ('{}', 'null');

-- Publish intents are short-lived; old ones are noise.
DELETE FROM publish_intents WHERE publish_time < now() - interval '7 days';

-- Bypass tokens grant access to draft content on the real site.
UPDATE content_items SET auth_bypass_ids = '{}'
WHERE auth_bypass_ids <> '{}';

-- Signon accounts of publishers: pseudonymised from the id (uid stays
-- unique: it is indexed so).
UPDATE users
SET name  = 'User ' || left(md5(id::text), 8),
    email = 'user-' || md5(id::text) || '@example.com',
    uid   = md5(uid);
