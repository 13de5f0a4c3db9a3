\set uid random(1, 10000)
BEGIN;
INSERT INTO orders (user_id, total, currency) VALUES (:uid, 3074, 'USD') RETURNING id \gset
INSERT INTO order_items (order_id, line, sku, quantity, unit_price)
VALUES (:id, 0, 'BOOK-1', 2, 1250), (:id, 1, 'PEN-2', 1, 199), (:id, 2, 'INK-3', 5, 75);
COMMIT;
