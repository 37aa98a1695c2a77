-- The bookmarks query store: each user's library, each comic's bookmark
-- count, and the comic cards bookmark reads show.
CREATE TABLE IF NOT EXISTS {schema}.comics
(
    id        uuid PRIMARY KEY,
    title     text NOT NULL,
    cover_url text,
    status    text NOT NULL,
    type      text NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.bookmarks
(
    user_id       text        NOT NULL,
    comic_id      uuid        NOT NULL,
    bookmarked_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, comic_id)
);
CREATE INDEX IF NOT EXISTS bookmarks_by_user ON {schema}.bookmarks (user_id, bookmarked_at DESC, comic_id);
CREATE INDEX IF NOT EXISTS bookmarks_by_comic ON {schema}.bookmarks (comic_id);

CREATE TABLE IF NOT EXISTS {schema}.counts
(
    comic_id  uuid PRIMARY KEY,
    bookmarks int  NOT NULL
);
