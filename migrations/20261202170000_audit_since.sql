-- `since` at any depth of the log (GET /api/v1/audit/events, nats/src/audit/query.rs).
-- `recorded_at` is when an event's transaction began, so it is only roughly in
-- commit order and no index on it gives the commit order a page is read in: a
-- recent `since` walked the commit-order index past every older event. The
-- sealer, which seals in commit order, stores with each seal the highest
-- `recorded_at` of the chain up to that event. It never falls along the chain,
-- so the seals from the first one at or past `since` on are a suffix of the
-- chain, and every event before that suffix was recorded before `since`: a page
-- with `since` starts there. A stored value above the true maximum only moves
-- that start earlier, so it is always safe; a missing one (a seal written by
-- a version before this column) makes the query ignore the column before it.
ALTER TABLE audit_seals ADD COLUMN IF NOT EXISTS recorded_max timestamptz;

UPDATE audit_seals s
SET recorded_max = m.recorded_max
FROM (SELECT a.chain_index,
             max(e.recorded_at) OVER (ORDER BY a.chain_index) AS recorded_max
      FROM audit_seals a
               LEFT JOIN events e ON e.position = a.position) m
WHERE s.chain_index = m.chain_index
  AND s.recorded_max IS NULL
  AND m.recorded_max IS NOT NULL;

CREATE INDEX IF NOT EXISTS audit_seals_recorded_max ON audit_seals (recorded_max, chain_index);
CREATE INDEX IF NOT EXISTS audit_seals_unknown_max ON audit_seals (chain_index) WHERE recorded_max IS NULL;
