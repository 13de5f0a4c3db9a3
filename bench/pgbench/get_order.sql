\set id random(1, 5000)
SELECT o.id, o.user_id, o.status, o.currency, o.total, o.created_at, o.updated_at,
       i.skus, i.quantities, i.unit_prices
FROM orders o
CROSS JOIN LATERAL (
    SELECT array_agg(sku ORDER BY line) AS skus, array_agg(quantity ORDER BY line) AS quantities,
           array_agg(unit_price ORDER BY line) AS unit_prices
    FROM order_items WHERE order_id = o.id) i
WHERE o.id = :id;
