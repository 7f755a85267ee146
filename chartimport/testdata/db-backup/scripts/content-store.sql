-- content-store: remove what must not leave production before a copy lands
-- in staging or integration. Runs inside one transaction on the restored
-- shadow; the first error aborts the restore.

-- Access-limited drafts name the users and organisations allowed to see
-- them; the content itself is unpublished and stays in production.
DELETE FROM content_items WHERE access_limited::text NOT IN ('{}', 'null');

-- Publish intents are short-lived; old ones are noise.
DELETE FROM publish_intents WHERE publish_time < now() - interval '7 days';

-- Bypass tokens grant access to draft content on the real site.
UPDATE content_items SET auth_bypass_ids = '[]'::json
WHERE auth_bypass_ids::text <> '[]';
