-- Every unique, foreign-key and check constraint gets a name of ours: the
-- code maps a violation to its meaning by these names (storage/error.rs), and
-- SQLite's twin of this migration gives the same ones. Renaming touches only
-- the catalog: no table is rewritten or re-checked.
ALTER TABLE users RENAME CONSTRAINT users_pkey TO users_pk;
-- users_email_lower_key, the case-insensitive unique index, was named from the start.

ALTER TABLE orders RENAME CONSTRAINT orders_pkey TO orders_pk;
ALTER TABLE orders RENAME CONSTRAINT orders_user_id_fkey TO orders_user_fk;
ALTER TABLE orders RENAME CONSTRAINT orders_total_check TO orders_total_nonnegative;
ALTER TABLE orders RENAME CONSTRAINT orders_status_check TO orders_status_known;
ALTER TABLE orders RENAME CONSTRAINT orders_currency_check TO orders_currency_code;

ALTER TABLE order_items RENAME CONSTRAINT order_items_pkey TO order_items_pk;
ALTER TABLE order_items RENAME CONSTRAINT order_items_order_id_fkey TO order_items_order_fk;
ALTER TABLE order_items RENAME CONSTRAINT order_items_line_check TO order_items_line_nonnegative;
ALTER TABLE order_items RENAME CONSTRAINT order_items_quantity_check TO order_items_quantity_range;
ALTER TABLE order_items RENAME CONSTRAINT order_items_unit_price_check TO order_items_unit_price_range;

ALTER TABLE idempotency_keys RENAME CONSTRAINT idempotency_keys_pkey TO idempotency_keys_pk;

-- An order for a user who does not exist fails at the statement that writes
-- it, as database users (and a pytest `pytest.raises(...)` around one
-- INSERT) expect, not later at commit.
ALTER TABLE orders ALTER CONSTRAINT orders_user_fk NOT DEFERRABLE;
