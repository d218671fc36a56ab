-- Release 2.0.0's expand: a new nullable column, harmless to 1.0.0.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer_ref text;
