-- A finer guard for the relay than the snapshot xmin, which any open
-- transaction in the cluster holds back (a projector's batch, a long report,
-- another database's work). Only transactions that write events can commit an
-- event that sorts before one already visible, so only they need to hold the
-- relay back.
--
-- The rule that makes them recognisable: a transaction's INSERT INTO events is
-- its first write. Its RowExclusiveLock on `events` is then taken before it
-- has a transaction id, and held until it ends. The trigger below enforces the
-- rule.

CREATE OR REPLACE FUNCTION events_first_write() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL
       AND current_setting('comics.events_writer', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'a transaction that appends events must append them before any other write'
            USING HINT = 'the relay releases events by the ids of transactions writing them (see events_release_bound)';
    END IF;
    PERFORM set_config('comics.events_writer', 'on', true);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS events_first_write ON events;
CREATE TRIGGER events_first_write
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_first_write();

-- Every event whose tx_id is below the returned bound, and whose transaction
-- committed, is visible to the statement calling this: the bound is the
-- statement snapshot's xmax, lowered to every transaction in progress at
-- that snapshot unless it is seen, still running, without a write lock on
-- this database's `events` (by the rule above it can then never write one;
-- transactions of other databases never hold it back). A transaction
-- that ended after the snapshot was taken is not seen running, so it holds
-- the bound until the next read.
-- PL/pgSQL, not SQL: its plan is kept across calls (planning this costs more
-- than running it).
CREATE OR REPLACE FUNCTION events_release_bound() RETURNS xid8
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    bound xid8;
BEGIN
    WITH snap AS MATERIALIZED (
        SELECT pg_current_snapshot() AS s
    ),
    locks AS MATERIALIZED (
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
        pg_snapshot_xmax(s),
        (SELECT min(x) FROM pg_snapshot_xip(s) AS x
         WHERE (x::text::bigint % 4294967296) NOT IN (SELECT xid32 FROM harmless)))
    INTO bound
    FROM snap;
    RETURN bound;
END;
$$;

-- Wake the relay only when it sleeps. A NOTIFY takes a database-wide lock
-- from the commit until the commit is flushed, serialising every committing
-- transaction that sends one; under load the relay is awake anyway. The relay
-- holds the advisory lock 'comics-relay-asleep' exactly while it sleeps; an
-- append that finds it held NOTIFYs, one that does not holds it shared until
-- it ends (so the relay cannot fall asleep before seeing that append).
CREATE OR REPLACE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(hashtextextended('comics-relay-asleep', 0)) THEN
        PERFORM pg_notify('comics_events', '');
    END IF;
    RETURN NULL;
END;
$$;
