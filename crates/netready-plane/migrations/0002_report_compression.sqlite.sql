-- netready plane, schema 2 (SQLite): nothing to do; SQLite does not compress values. Kept so that
-- both backends share one version sequence.
SELECT 1;
