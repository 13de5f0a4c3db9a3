\set id random(1, 10000)
\set n random(1, 1000000)
UPDATE users SET name = 'Renamed ' || :n, updated_at = GREATEST(now(), updated_at + interval '1 microsecond')
WHERE id = :id RETURNING id, email, name, created_at, updated_at;
