-- The view recorder's own state, written in the same transaction as the
-- ViewsRecorded events it appends (see command-service/src/views/).

-- How far into the views stream everything is recorded.
CREATE TABLE IF NOT EXISTS view_recorder
(
    stream          text   PRIMARY KEY,
    stream_sequence bigint NOT NULL
);

-- The readers each message counted (16-byte keys, concatenated), at the
-- message's stream time: the memory of the once per 10 minutes rule, read
-- back when a recorder starts. Rows older than the window are pruned.
CREATE TABLE IF NOT EXISTS view_counted
(
    stream          text        NOT NULL,
    stream_sequence bigint      NOT NULL,
    at              timestamptz NOT NULL,
    readers         bytea       NOT NULL,
    PRIMARY KEY (stream, stream_sequence)
);
CREATE INDEX IF NOT EXISTS view_counted_by_time ON view_counted (stream, at);
