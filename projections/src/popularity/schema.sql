-- The popularity query store: all-time views per comic, a per-minute
-- histogram of the last 31 days (so 24h/7d/30d windows age exactly, to the
-- minute), and the comic cards the popular ranking shows.
CREATE TABLE IF NOT EXISTS {schema}.comics
(
    id        uuid PRIMARY KEY,
    title     text NOT NULL,
    cover_url text,
    status    text NOT NULL,
    type      text NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.totals
(
    comic_id uuid   PRIMARY KEY,
    views    bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.minutes
(
    comic_id uuid        NOT NULL,
    minute   timestamptz NOT NULL,
    views    bigint      NOT NULL,
    PRIMARY KEY (comic_id, minute)
);
CREATE INDEX IF NOT EXISTS minutes_by_time ON {schema}.minutes (minute, comic_id);
