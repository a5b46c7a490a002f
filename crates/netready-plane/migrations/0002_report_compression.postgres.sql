-- netready plane, schema 2 (PostgreSQL): compress stored reports with lz4 rather than the default
-- pglz, which costs several times the CPU on every insert of a 5 KiB report. Servers without lz4
-- (or older than 14) keep pglz: the change is skipped, not failed.
DO $$
BEGIN
    ALTER TABLE reports ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'reports.body keeps the default compression: %', SQLERRM;
END
$$;
