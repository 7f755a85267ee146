-- publishing-api: remove what must not leave production before a copy
-- lands in staging or integration. Runs inside one transaction on the
-- restored shadow; the first error aborts the restore. The tables are the
-- app's public db/schema.rb (alphagov/publishing-api).

-- Access-limited drafts are unpublished work; their limits name the users
-- allowed to see them.
DELETE FROM content_items
WHERE id IN (SELECT a.content_item_id FROM access_limits a
             JOIN states s ON s.content_item_id = a.content_item_id AND s.name = 'draft');
DELETE FROM access_limits;

-- The event log holds every request's payload and who sent it: a month is
-- enough for developers, without either.
DELETE FROM events WHERE created_at < now() - interval '30 days';
UPDATE events SET payload = '{}', user_uid = NULL;

-- Signon accounts of publishers: pseudonymised from the id.
UPDATE users
SET name  = 'User ' || left(md5(id::text), 8),
    email = 'user-' || md5(id::text) || '@example.com',
    uid   = md5(uid);
