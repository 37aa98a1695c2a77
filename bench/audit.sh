# The audit mode of bench/run.sh (`bench/run.sh audit`), sourced after the
# build: the audit at a million events (issue 12). It runs its own
# nats-server (a free loopback port, a temporary store), so the million
# events never fill the shared one. In one run:
#   1. BENCH_AUDIT_EVENTS rating events appended in bulk, `recorded_at`
#      spread over the last 10 days, relayed, projected and sealed;
#   2. pages of GET /api/v1/audit/events (limit 100, one at a time, 200 per
#      filter, walking each filter's pages by `after`): p50 and p99, vs
#      unfiltered pages;
#   3. a walk of the whole log by `after` (limit 1000), and
#      `comics audit verify`: events/s, vs reading the log once in commit
#      order with psql.
# Knobs, besides lib.sh's: BENCH_AUDIT_EVENTS (1000000), BENCH_NATS_PORT.

AUDIT_EVENTS=${BENCH_AUDIT_EVENTS:-1000000}
IDS_FILE="$OUT/comics.txt"
own_nats
start_server

say "seeding 200 comics"
"$BIN/comics-bench" seed --base "$BASE" --comics 200 --ratings 0 --views 0 >"$OUT/seed.txt"
awk '$1 == "comic_id" {print $2}' "$OUT/seed.txt" >"$IDS_FILE"
mapfile -t IDS <"$IDS_FILE"
[ "${#IDS[@]}" -ge 3 ] || die "seeding produced ${#IDS[@]} comics"

# ---------------------------------------------------------------- a million events
say "appending $AUDIT_EVENTS rating events in bulk (recorded over the last 10 days)"
bench seed-ratings --database-url "$DATABASE" --comics "$IDS_FILE" --events "$AUDIT_EVENTS" \
  --spread-hours 240 --chunk 10000 --connections 1
ACTOR=$(val seed-ratings seed_ratings_actor)
TOTAL=$(psql_events "SELECT count(*) FROM events")
say "waiting for the relay, the projections and the sealer ($TOTAL events)"
start=$(date +%s.%N)
for i in $(seq 1 1200); do
  SEALED=$(psql_events "SELECT count(*) FROM audit_seals")
  [ "$SEALED" -ge "$TOTAL" ] && break
  [ "$i" = 1200 ] && die "only $SEALED of $TOTAL events sealed after 10 minutes"
  sleep 0.5
done
SEAL_SECS=$(elapsed "$start")
# Not waiting for the projections (a million events take them minutes on a
# busy machine): how far behind they are is printed with the figures.
psql -d "$DB" -qc "VACUUM ANALYZE events"
psql -d "$DB" -qc "VACUUM ANALYZE audit_seals"
PROJ_AT=$(psql_events "SELECT stream_sequence FROM ratings.checkpoint")

say "baseline: the whole log read once in commit order (psql \\copy to /dev/null)"
start=$(date +%s.%N)
psql -d "$DB" -qc "\\copy (SELECT tx_id, position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at FROM events ORDER BY tx_id, position) TO '/dev/null'"
READ_SECS=$(elapsed "$start")
TOTAL=$(psql_events "SELECT count(*) FROM events")
READ_RATE=$(awk -v n="$TOTAL" -v s="$READ_SECS" 'BEGIN { printf "%.0f", n / s }')

# ---------------------------------------------------------------- pages
# at FRACTION: the recorded_at of the event that far into the log (RFC 3339, UTC).
at() {
  psql_events "SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM events ORDER BY position OFFSET (SELECT (count(*) * $1)::bigint FROM events) LIMIT 1"
}
T10=$(at 0.1); T50=$(at 0.5); T51=$(at 0.51); T90=$(at 0.9)
QUERIES=(
  "none="
  "aggregate_type_Rating=aggregate_type=Rating"
  "aggregate_type_Comic=aggregate_type=Comic"
  "aggregate_id=aggregate_id=${IDS[5]}"
  "actor=actor=$ACTOR"
  "event_type_RatingGiven=event_type=RatingGiven"
  "event_type_ComicCreated=event_type=ComicCreated"
  "since_10pct=since=$T10"
  "since_50pct=since=$T50"
  "since_90pct=since=$T90"
  "until_50pct=until=$T50"
  "since_until_1pct=since=$T50&until=$T51"
  "type_and_actor=aggregate_type=Rating&actor=$ACTOR"
)
args=()
for q in "${QUERIES[@]}"; do args+=(--query "$q"); done
bench audit-probe --base "$BASE" --pages 200 "${args[@]}"
mv "$OUT/audit-probe.txt" "$OUT/audit-pages.txt"
bench audit-probe --base "$BASE" --walk 1000
mv "$OUT/audit-probe.txt" "$OUT/audit-walk.txt"
WALK_RATE=$(val audit-walk walk_per_sec)
WALK_EVENTS=$(val audit-walk walk_events)

say "comics audit verify"
start=$(date +%s.%N)
comics_cli audit verify >"$OUT/verify.txt" 2>&1 || { cat "$OUT/verify.txt" >&2; die "audit verify failed"; }
VERIFY_SECS=$(elapsed "$start")
cat "$OUT/verify.txt" >&2
VERIFY_RATE=$(awk -v n="$TOTAL" -v s="$VERIFY_SECS" 'BEGIN { printf "%.0f", n / s }')

# ---------------------------------------------------------------- summary
{
  header_lines
  row "measurement" "measured" "p99" "baseline" "ratio" "target" "verdict"
  row "----------------------------------" "--------------" "--------" "--------------" "-------" "------------" "-------"
  NONE_P99=$(val audit-pages none_p99_ms)
  for q in "${QUERIES[@]}"; do
    name=${q%%=*}
    p50=$(val audit-pages "${name}_p50_ms"); p99=$(val audit-pages "${name}_p99_ms")
    r=$(ratio "$p99" "$NONE_P99")
    row "page: ${name}" "p50 ${p50}ms" "${p99}ms" "p99 ${NONE_P99}ms" "${r}x" "p99 <= 20ms" "$(verdict "$p99" "<=" 20)"
  done
  r=$(ratio "$WALK_RATE" "$READ_RATE")
  row "walk by after (limit 1000)" "$WALK_RATE ev/s" "" "$READ_RATE ev/s" "${r}x" ">= 50k/s" "$(verdict "$WALK_RATE" ">=" 50000)"
  r=$(ratio "$VERIFY_RATE" "$READ_RATE")
  row "comics audit verify" "$VERIFY_RATE ev/s" "" "$READ_RATE ev/s" "${r}x" ">= 100k/s" "$(verdict "$VERIFY_RATE" ">=" 100000)"
  echo
  echo "log: $TOTAL events ($AUDIT_EVENTS seeded in bulk in $(val seed-ratings seed_ratings_seconds)s, recorded over 10 days;"
  echo "  relayed and sealed ${SEAL_SECS}s after; the ratings projection was at $PROJ_AT when the reads began)."
  echo "pages: comics-bench audit-probe, limit 100, one request at a time, 200 pages per filter walked by after"
  echo "  (starting over at the end); baseline: the same for no filter. Times: since/until at 10/50/51/90 % of the log."
  echo "walk: $WALK_EVENTS events, limit 1000, unfiltered; verify: ${VERIFY_SECS}s wall (process start included);"
  echo "  baseline: psql \\copy of the whole log in commit order to /dev/null, ${READ_SECS}s."
} | tee "$OUT/summary.txt"
