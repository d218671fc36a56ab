-- Release 2.0.1's expand, WRONG on purpose: 1.0.0 (still live) reads legacy_ref.
ALTER TABLE orders DROP COLUMN legacy_ref;
