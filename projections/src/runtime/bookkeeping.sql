-- The tables every projection keeps beside its rows: where it is in the
-- stream, and the last sequence applied per aggregate. `{schema}` is the
-- projection's schema. Applied by the runtime before the projection's DDL.
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.checkpoint
(
    id              int         PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    stream_sequence bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {schema}.checkpoint (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {schema}.applied
(
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
