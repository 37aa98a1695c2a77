-- The catalog query store. `{schema}` is the projection's schema: `catalog`
-- when live, another name while a rebuild fills a fresh copy.
-- (checkpoint and applied: see ../bookkeeping.sql)

CREATE TABLE IF NOT EXISTS {schema}.comics
(
    id             uuid        PRIMARY KEY,
    title          text        NOT NULL,
    alt_titles     text[]      NOT NULL DEFAULT '{}',
    description    text        NOT NULL DEFAULT '',
    authors        text[]      NOT NULL DEFAULT '{}',
    artists        text[]      NOT NULL DEFAULT '{}',
    status         text        NOT NULL,
    type           text        NOT NULL,
    genres         text[]      NOT NULL DEFAULT '{}',
    -- lower-cased title and alternative titles, for `q`
    search_text    text        NOT NULL,
    cover_url      text,
    chapter_count  int         NOT NULL DEFAULT 0,
    -- {"id","number","title","published_at"} or null
    latest_chapter jsonb,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS comics_created ON {schema}.comics (created_at, id);
CREATE INDEX IF NOT EXISTS comics_updated ON {schema}.comics (updated_at, id);
CREATE INDEX IF NOT EXISTS comics_title ON {schema}.comics (lower(title), id);
CREATE INDEX IF NOT EXISTS comics_genres ON {schema}.comics USING gin (genres);

-- Search (`q`): `search_text` holds the title and the alternative titles
-- normalised (comics_domain::values::normalize: NFKD, lower case, accents
-- dropped, NFC, whitespace collapsed) and joined by a newline; `search_grams`
-- their distinct characters and character bigrams, indexed. (Added after the
-- first release: a store made before is filled by
-- `comics projections rebuild catalog`; until then its comics are not found.)
ALTER TABLE {schema}.comics ADD COLUMN IF NOT EXISTS search_grams text[] NOT NULL DEFAULT '{}';
-- New entries wait in the index's pending list, which every search reads
-- whole: kept small (256 kB) so that churn (any non-HOT update of a row
-- re-enters its grams) is merged in small batches.
CREATE INDEX IF NOT EXISTS comics_search_grams ON {schema}.comics USING gin (search_grams)
    WITH (gin_pending_list_limit = 256);

CREATE TABLE IF NOT EXISTS {schema}.chapters
(
    id           uuid        PRIMARY KEY,
    comic_id     uuid        NOT NULL,
    number       text        NOT NULL,
    -- the number's value in hundredths ("12.5" → 1250), for reading order
    number_sort  bigint      NOT NULL,
    title        text,
    volume       text,
    language     text        NOT NULL,
    page_count   int         NOT NULL DEFAULT 0,
    published_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS chapters_reading_order
    ON {schema}.chapters (comic_id, language, number_sort);

-- How many live comics carry each genre (genres with no comic are removed).
CREATE TABLE IF NOT EXISTS {schema}.genres
(
    genre  text PRIMARY KEY,
    comics int  NOT NULL
);

-- What a comic document shows from the other aggregates, kept on its row so
-- that a document (or a list card) is one read: votes and their sum (the
-- average; with `rating_totals`, the Bayesian average), all-time views and
-- bookmarks. (Added after the first release: a store made before is filled
-- by `comics projections rebuild catalog`.)
ALTER TABLE {schema}.comics
    ADD COLUMN IF NOT EXISTS votes     int    NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS score_sum bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS views     bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS bookmarks int    NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS comics_views ON {schema}.comics (views, id);
CREATE INDEX IF NOT EXISTS comics_status ON {schema}.comics (status, created_at, id);
CREATE INDEX IF NOT EXISTS comics_type ON {schema}.comics (type, created_at, id);

-- The votes of every live comic: the global terms of the Bayesian average.
CREATE TABLE IF NOT EXISTS {schema}.rating_totals
(
    id           int    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    votes        bigint NOT NULL DEFAULT 0,
    score_sum    bigint NOT NULL DEFAULT 0,
    rated_comics bigint NOT NULL DEFAULT 0
);
INSERT INTO {schema}.rating_totals (id) VALUES (1) ON CONFLICT DO NOTHING;

-- How many live comics there are in all (`all`), per status (`status:<s>`)
-- and per type (`type:<t>`): exact list totals without counting rows.
CREATE TABLE IF NOT EXISTS {schema}.counts
(
    key    text   PRIMARY KEY,
    comics bigint NOT NULL
);

-- Covers and pages: the metadata of images in object storage, as the
-- events that named them recorded it (the bytes are read by `key`). A
-- cover is `{"content_type","width","height","size","sha256","key"}`.
-- (Added after the first release: a store made before has no covers or
-- pages until `comics projections rebuild catalog`.)
ALTER TABLE {schema}.comics ADD COLUMN IF NOT EXISTS cover jsonb;
CREATE INDEX IF NOT EXISTS comics_cover_sha256 ON {schema}.comics ((cover ->> 'sha256'))
    WHERE cover IS NOT NULL;
CREATE TABLE IF NOT EXISTS {schema}.pages
(
    chapter_id   uuid   NOT NULL,
    number       int    NOT NULL,
    comic_id     uuid   NOT NULL,
    content_type text   NOT NULL,
    width        int    NOT NULL,
    height       int    NOT NULL,
    size         bigint NOT NULL,
    sha256       text   NOT NULL,
    key          text   NOT NULL,
    PRIMARY KEY (chapter_id, number)
);
CREATE INDEX IF NOT EXISTS pages_comic ON {schema}.pages (comic_id);
CREATE INDEX IF NOT EXISTS pages_sha256 ON {schema}.pages (sha256);

-- How many live comics match each filter of up to two genres (`g1 < g2` in
-- byte order; '' for none), a status and a type ('' for any): exact list
-- totals for those filters without counting rows (see counts.rs). (Added
-- after the first release: a store made before is filled here from its
-- comics, once, while the projector is held off.)
CREATE TABLE IF NOT EXISTS {schema}.filter_counts
(
    g1     text   NOT NULL,
    g2     text   NOT NULL,
    status text   NOT NULL,
    type   text   NOT NULL,
    comics bigint NOT NULL,
    PRIMARY KEY (g1, g2, status, type)
);
INSERT INTO {schema}.filter_counts (g1, g2, status, type, comics)
SELECT s.g1, s.g2, st.v, ty.v, count(*)
FROM {schema}.comics c
CROSS JOIN LATERAL (
    SELECT '' AS g1, '' AS g2
    UNION ALL SELECT g, '' FROM (SELECT DISTINCT unnest(c.genres) AS g) one
    UNION ALL SELECT a.g, b.g
    FROM (SELECT DISTINCT unnest(c.genres) AS g) a, (SELECT DISTINCT unnest(c.genres) AS g) b
    WHERE a.g COLLATE "C" < b.g COLLATE "C"
) s
CROSS JOIN LATERAL (VALUES (''), (c.status)) st(v)
CROSS JOIN LATERAL (VALUES (''), (c.type)) ty(v)
WHERE NOT EXISTS (SELECT 1 FROM {schema}.filter_counts)
GROUP BY 1, 2, 3, 4;

-- The orders of `GET /comics`, each a covering index that also holds what
-- every filter but `q` reads (genres, status, type), so that a page is
-- found by an index-only scan however deep it is, and only its own rows are
-- read whole (see the query service's `comics::store`). Rating and
-- popularity list the ranked comics (rated, viewed) first, in a partial
-- index each, and the others after them by id. (These replace the first
-- release's narrow indexes of the same orders.)
DROP INDEX IF EXISTS {schema}.comics_created;
DROP INDEX IF EXISTS {schema}.comics_updated;
DROP INDEX IF EXISTS {schema}.comics_title;
DROP INDEX IF EXISTS {schema}.comics_views;
CREATE INDEX IF NOT EXISTS comics_by_created ON {schema}.comics (created_at, id)
    INCLUDE (genres, status, type);
CREATE INDEX IF NOT EXISTS comics_by_updated ON {schema}.comics (updated_at, id)
    INCLUDE (genres, status, type);
CREATE INDEX IF NOT EXISTS comics_by_title ON {schema}.comics (lower(title), id)
    INCLUDE (title, genres, status, type);
CREATE INDEX IF NOT EXISTS comics_viewed ON {schema}.comics (views DESC, id)
    INCLUDE (genres, status, type) WHERE views > 0;
CREATE INDEX IF NOT EXISTS comics_unviewed ON {schema}.comics (id)
    INCLUDE (views, genres, status, type) WHERE views = 0;
CREATE INDEX IF NOT EXISTS comics_rated ON {schema}.comics (id)
    INCLUDE (votes, score_sum, genres, status, type) WHERE votes > 0;
CREATE INDEX IF NOT EXISTS comics_unrated ON {schema}.comics (id)
    INCLUDE (votes, score_sum, genres, status, type) WHERE votes = 0;
