-- The audit: every filter of GET /api/v1/audit/events is answered from an
-- index in commit order (the filter's columns, then tx_id, position), so a
-- page is an index range read however large the log is. One aggregate's
-- events are in commit order by sequence, so the primary key serves an
-- aggregate_type + aggregate_id filter too.
CREATE INDEX IF NOT EXISTS events_audit_type ON events (aggregate_type, tx_id, position);
CREATE INDEX IF NOT EXISTS events_audit_id ON events (aggregate_id, tx_id, position);
CREATE INDEX IF NOT EXISTS events_audit_event_type ON events (event_type, tx_id, position);
CREATE INDEX IF NOT EXISTS events_audit_actor ON events ((metadata ->> 'actor'), tx_id, position);
CREATE INDEX IF NOT EXISTS events_audit_recorded_at ON events (recorded_at);

-- The hash chain over the log in commit order (nats/src/audit/): row n seals
-- the n-th event, seal = sha256(seal of n-1 || the event's canonical bytes).
-- Written only by the sealer, which follows the events stream (whose message
-- n is the n-th event in commit order); `stream_sequence` is where it resumes.
CREATE TABLE IF NOT EXISTS audit_seals
(
    chain_index     bigint PRIMARY KEY CHECK (chain_index >= 1),
    tx_id           xid8   NOT NULL,
    position        bigint NOT NULL,
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    sequence        bigint NOT NULL,
    seal            bytea  NOT NULL,
    stream_sequence bigint NOT NULL UNIQUE
);
