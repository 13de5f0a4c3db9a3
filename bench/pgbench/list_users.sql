\set after 9000
SELECT id, email, name, created_at, updated_at FROM users WHERE id > :after ORDER BY id LIMIT 51;
