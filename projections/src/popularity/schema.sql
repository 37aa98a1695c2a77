-- The popularity query store: all-time views per comic, a per-minute
-- histogram of the last 31 days (so 24h/7d/30d windows age exactly, to the
-- minute), rolling 24h/7d/30d totals kept from it (see below), and the comic
-- cards the popular ranking shows.
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

-- Rolling window totals: per window ('24h', '7d', '30d') and comic, the sum
-- of the comic's minutes from the window's mark (`window_marks.aged_from`)
-- on. The ager moves the marks forward with time; reads correct from the
-- mark to their own first minute. A new store starts with every mark at
-- -infinity; on a store that had minutes before these tables, the first
-- insert of the marks folds them in (once: the insert returns no row later).
CREATE TABLE IF NOT EXISTS {schema}.windows
(
    comic_id uuid   NOT NULL,
    win      text   NOT NULL,
    views    bigint NOT NULL,
    PRIMARY KEY (comic_id, win)
);
CREATE INDEX IF NOT EXISTS windows_ranked ON {schema}.windows (win, views DESC, comic_id);

CREATE TABLE IF NOT EXISTS {schema}.window_marks
(
    win       text        PRIMARY KEY,
    aged_from timestamptz NOT NULL
);
WITH marked AS (
    INSERT INTO {schema}.window_marks (win, aged_from)
    VALUES ('24h', '-infinity'), ('7d', '-infinity'), ('30d', '-infinity')
    ON CONFLICT (win) DO NOTHING
    RETURNING win
)
INSERT INTO {schema}.windows (comic_id, win, views)
SELECT m.comic_id, marked.win, sum(m.views)::int8
FROM marked CROSS JOIN {schema}.minutes m
GROUP BY m.comic_id, marked.win
HAVING sum(m.views) <> 0
ON CONFLICT (comic_id, win) DO NOTHING;
