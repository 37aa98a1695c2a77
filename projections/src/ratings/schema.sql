-- The ratings query store: every user's current score per comic, per-comic
-- statistics, global totals (for the Bayesian average), and the comic
-- cards rating reads show. Bookkeeping tables are added by the runtime.
CREATE TABLE IF NOT EXISTS {schema}.comics
(
    id        uuid PRIMARY KEY,
    title     text NOT NULL,
    cover_url text,
    status    text NOT NULL,
    type      text NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.ratings
(
    comic_id uuid        NOT NULL,
    user_id  text        NOT NULL,
    score    smallint    NOT NULL CHECK (score BETWEEN 1 AND 10),
    rated_at timestamptz NOT NULL,
    PRIMARY KEY (comic_id, user_id)
);
CREATE INDEX IF NOT EXISTS ratings_by_user ON {schema}.ratings (user_id, rated_at DESC, comic_id);

-- Only comics with at least one vote have a row.
CREATE TABLE IF NOT EXISTS {schema}.stats
(
    comic_id     uuid     PRIMARY KEY,
    votes        int      NOT NULL,
    score_sum    bigint   NOT NULL,
    -- distribution[s] = how many votes of score s (1..10)
    distribution int[]    NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.totals
(
    id           int    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    votes        bigint NOT NULL DEFAULT 0,
    score_sum    bigint NOT NULL DEFAULT 0,
    rated_comics bigint NOT NULL DEFAULT 0
);
INSERT INTO {schema}.totals (id) VALUES (1) ON CONFLICT DO NOTHING;
