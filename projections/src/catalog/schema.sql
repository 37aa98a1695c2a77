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
