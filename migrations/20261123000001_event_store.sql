-- The event log: postgres-es's `events` table, extended for an ordered,
-- gap-free relay. `position` is a global identity, `tx_id` the writing
-- transaction (visible in commit order once below the snapshot xmin),
-- `recorded_at` the time the event was stored.
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    tx_id          xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- The relay's tail and the audit's filters.
CREATE INDEX IF NOT EXISTS events_commit_order ON events (tx_id, position);
CREATE INDEX IF NOT EXISTS events_position ON events (position);

-- postgres-es wants this table to exist even though the plain event store
-- never writes snapshots.
CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Where each relay (one per stream) has published up to, in commit order.
CREATE TABLE IF NOT EXISTS relay_cursors
(
    stream   text   PRIMARY KEY,
    tx_id    xid8   NOT NULL,
    position bigint NOT NULL
);

-- Wake the relay as soon as events commit (NOTIFY is delivered at commit).
CREATE OR REPLACE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('comics_events', '');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS events_appended ON events;
CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();
