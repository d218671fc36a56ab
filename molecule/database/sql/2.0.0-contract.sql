-- Release 2.0.0's contract, once 1.0.0 is retired: nothing reads legacy_ref any more.
ALTER TABLE orders DROP COLUMN legacy_ref;
