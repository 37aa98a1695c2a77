-- events_release_bound(), again, with two changes.
--
-- Without pg_locks when no transaction is in progress at the snapshot: the
-- bound is then the snapshot's xmax, as the full function would answer (the
-- least of xmax and the minimum of an empty set). Reading pg_locks takes
-- every lock-manager partition lock in turn; the relay calls this for every
-- read, about once per event under a trickle of writes (18 % of Postgres
-- statement time in `bench/run.sh cost`).
--
-- Held back only by writers seen in progress. The earlier version let a
-- transaction of the snapshot's xip hold the bound unless pg_locks showed it
-- still running without a write lock on `events`, so one that merely ended
-- between the snapshot and the read of pg_locks (a transaction of any
-- database in the cluster) held it until the next read: an audit page read
-- right after a committed write could end before that write. A transaction
-- whose locks are gone has left the proc array (a backend releases its
-- locks after it ends), so the caller's later read, which takes a newer
-- snapshot, sees whatever it committed; only a transaction still holding
-- its write lock on this database's `events` can commit an event below the
-- bound later.
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
    -- (IN over small sets: hashed, where EXISTS rescans per row.)
    writing AS (
        SELECT transactionid::text::bigint AS xid32 FROM locks
        WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
          AND virtualtransaction IN (SELECT virtualtransaction FROM writers)
    )
    SELECT LEAST(
        pg_snapshot_xmax(snap),
        (SELECT min(x) FROM pg_snapshot_xip(snap) AS x
         WHERE (x::text::bigint % 4294967296) IN (SELECT xid32 FROM writing)))
    INTO bound;
    RETURN bound;
END;
$$;
