-- Forget sessions.
TRUNCATE sessions;
