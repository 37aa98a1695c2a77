-- events_release_bound() without pg_locks when no transaction is in
-- progress at the snapshot: the bound is then the snapshot's xmax, as the
-- full function would answer (the least of xmax and the minimum of an empty
-- set). Reading pg_locks takes every lock-manager partition lock in turn;
-- the relay calls this for every read, about once per event under a
-- trickle of writes (18 % of Postgres statement time in `bench/run.sh cost`).
CREATE OR REPLACE FUNCTION events_release_bound() RETURNS xid8
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    snap  pg_snapshot := pg_current_snapshot();
    bound xid8;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(snap)) THEN
        RETURN pg_snapshot_xmax(snap);
    END IF;
    WITH locks AS MATERIALIZED (
        SELECT locktype, database, virtualtransaction, transactionid, relation, mode, granted
        FROM pg_locks
    ),
    writers AS (
        SELECT virtualtransaction FROM locks
        WHERE locktype = 'relation'
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND relation = 'events'::regclass
          AND mode = 'RowExclusiveLock'
    ),
    -- (NOT IN over small sets: hashed, where NOT EXISTS rescans per row.)
    harmless AS (
        SELECT transactionid::text::bigint AS xid32 FROM locks
        WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
          AND virtualtransaction NOT IN (SELECT virtualtransaction FROM writers)
    )
    SELECT LEAST(
        pg_snapshot_xmax(snap),
        (SELECT min(x) FROM pg_snapshot_xip(snap) AS x
         WHERE (x::text::bigint % 4294967296) NOT IN (SELECT xid32 FROM harmless)))
    INTO bound;
    RETURN bound;
END;
$$;
