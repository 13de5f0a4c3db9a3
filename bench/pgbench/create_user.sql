INSERT INTO users (email, name) VALUES ('pgb-' || gen_random_uuid() || '@example.com', 'Bench User')
RETURNING id, email, name, created_at, updated_at;
