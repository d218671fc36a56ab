-- 2.0.0 expand: a nullable column; 1.0.0 ignores it.
ALTER TABLE orders ADD COLUMN customer_ref text NULL;
CREATE INDEX orders_customer_ref ON orders (customer_ref);
