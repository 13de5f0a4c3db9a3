\set id random(1, 10000)
SELECT id, email, name, created_at, updated_at FROM users WHERE id = :id;
