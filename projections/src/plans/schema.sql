-- The plans query store: every plan on sale (a retired plan's row is
-- deleted), in the order `GET /plans` lists them.
CREATE TABLE IF NOT EXISTS {schema}.plans
(
    id               uuid PRIMARY KEY,
    name             text        NOT NULL,
    -- the name in lower case (computed from the event, so a rebuild sorts
    -- exactly as live projection did), the tie-break after the price
    name_key         text        NOT NULL,
    description      text        NOT NULL,
    price_cents      bigint      NOT NULL,
    currency         text        NOT NULL,
    billing_interval text        NOT NULL,
    perks            text[]      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS plans_cheapest_first
    ON {schema}.plans (price_cents, name_key COLLATE "C", name COLLATE "C", id);
