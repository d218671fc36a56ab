-- 2.0.1 (bad): drops a column 1.0.0 still reads. Belongs in a contract phase, after 1.0.0 is retired.
ALTER TABLE orders DROP COLUMN legacy_ref;
