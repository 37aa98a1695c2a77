-- The thumbnails query store: for each comic's cover, the thumbnails made
-- of it, one per width, stored content-addressed in object storage. A
-- cover narrower than a width, or too large to decode within the budget,
-- has no row for it (its original is served).
CREATE TABLE IF NOT EXISTS {schema}.thumbnails
(
    comic_id      uuid    NOT NULL,
    -- the width asked for (`?size=`), which is the thumbnail's width
    width         integer NOT NULL,
    -- the cover the thumbnail was made from: a read serves the thumbnail
    -- only while the catalog shows this cover
    source_sha256 text    NOT NULL,
    height        integer NOT NULL,
    content_type  text    NOT NULL,
    size          bigint  NOT NULL,
    sha256        text    NOT NULL,
    key           text    NOT NULL,
    version       bigint  NOT NULL,
    PRIMARY KEY (comic_id, width)
);
