-- 1.0.0: the schema the first release reads.
CREATE TABLE orders (id serial PRIMARY KEY, legacy_ref text);
INSERT INTO orders (legacy_ref) VALUES ('A-1'), ('A-2');
