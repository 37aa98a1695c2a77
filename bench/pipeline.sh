# The pipeline mode of bench/run.sh (`bench/run.sh pipeline`), sourced after
# the build: the event log's throughput through rebuilds and after a NATS
# outage (issue 13). It runs its own nats-server (a free loopback port, a
# temporary store), never the shared one, since it kills it. In one run:
#   1. a log of BENCH_PIPELINE_EVENTS rating events (seeded in bulk) over 200
#      comics, projected live;
#   2. `comics projections rebuild ratings`, then `--all`: events applied per
#      second, vs reading the same log once in commit order with psql;
#   3. NATS killed (-9), BENCH_BACKLOG_EVENTS more rating events appended,
#      NATS started again on the same port and store: from the port accepting
#      connections, how long until the relay published again, how fast it
#      drained the backlog, and when the ratings and catalog projections had
#      caught up, vs pipelined JetStream publishes (comics-bench js-publish)
#      on the same server.
# Knobs, besides lib.sh's: BENCH_PIPELINE_EVENTS (69000),
# BENCH_BACKLOG_EVENTS (66800), BENCH_NATS_PORT (a free one).

PIPE_EVENTS=${BENCH_PIPELINE_EVENTS:-69000}
BACKLOG=${BENCH_BACKLOG_EVENTS:-66800}
IDS_FILE="$OUT/comics.txt"
own_nats
start_server

say "seeding 200 comics, then $PIPE_EVENTS rating events in bulk"
"$BIN/comics-bench" seed --base "$BASE" --comics 200 --ratings 0 --views 0 >"$OUT/seed.txt"
awk '$1 == "comic_id" {print $2}' "$OUT/seed.txt" >"$IDS_FILE"
mapfile -t IDS <"$IDS_FILE"
[ "${#IDS[@]}" -ge 3 ] || die "seeding produced ${#IDS[@]} comics"
bench seed-ratings --database-url "$DATABASE" --comics "$IDS_FILE" --events "$PIPE_EVENTS"
say "waiting for the live projections to catch up"
settle "${IDS[1]}"
LOG_EVENTS=$(psql_events "SELECT count(*) FROM events")

# ---------------------------------------------------------------- rebuilds
say "baseline: the whole log read once in commit order (psql \\copy to /dev/null)"
start=$(date +%s.%N)
psql -d "$DB" -qc "\\copy (SELECT tx_id, position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at FROM events ORDER BY tx_id, position) TO '/dev/null'"
READ_SECS=$(elapsed "$start")
READ_RATE=$(awk -v n="$LOG_EVENTS" -v s="$READ_SECS" 'BEGIN { printf "%.0f", n / s }')

# rebuild NAME ARGS…: times `comics projections rebuild ARGS…`; sets
# <NAME>_EVENTS (events applied, summed over projections), <NAME>_SECS, <NAME>_RATE.
rebuild() {
  local name=$1 start secs events
  shift
  say "comics projections rebuild $*"
  start=$(date +%s.%N)
  comics_cli projections rebuild "$@" >"$OUT/rebuild-$name.txt" 2>"$OUT/rebuild-$name.err" \
    || { cat "$OUT/rebuild-$name.err" >&2; die "the rebuild failed"; }
  secs=$(elapsed "$start")
  cat "$OUT/rebuild-$name.txt" >&2
  events=$(awk '/rebuilt from/ { n += $4 } END { print n + 0 }' "$OUT/rebuild-$name.txt")
  printf -v "${name}_EVENTS" '%s' "$events"
  printf -v "${name}_SECS" '%s' "$secs"
  printf -v "${name}_RATE" '%s' "$(awk -v n="$events" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
}
rebuild REB_RATINGS ratings
rebuild REB_ALL --all

# ---------------------------------------------------------------- outage
say "baseline: pipelined JetStream publishes on the same server"
bench js-publish --nats "$NATS" --stream "${PREFIX^^}_JSBASE" --count 100000 --size 400 --window 1024
JS_RATE=$(val js-publish js_publish_per_sec)

settle "${IDS[1]}"
FROM=$(psql_events "SELECT count(*) FROM events")
say "killing nats-server (-9), appending $BACKLOG rating events while it is down"
kill -KILL "$NATS_PID"
wait "$NATS_PID" 2>/dev/null || true
bench seed-ratings --database-url "$DATABASE" --comics "$IDS_FILE" --events "$BACKLOG"
TARGET=$(psql_events "SELECT count(*) FROM events")
sleep 2 # the relay and projectors are retrying against the missing server
"$BIN/comics-bench" catch-up --nats "$NATS" --stream "${PREFIX^^}_EVENTS" --database-url "$DATABASE" \
  --from "$FROM" --target "$TARGET" --schema ratings --schema catalog >"$OUT/catch-up.txt" &
CATCH_PID=$!
sleep 0.5
say "starting nats-server again on $NATS"
start_nats
wait "$CATCH_PID" || die "the catch-up was not measured (see $OUT/catch-up.txt and $OUT/server.log)"
cat "$OUT/catch-up.txt" >&2
RECONNECT=$(val catch-up catch_up_reconnect_ms)
DRAIN=$(val catch-up catch_up_drain_per_sec)
PROJ_MS=$(val catch-up catch_up_projected_ms)
PROJ_RATE=$(val catch-up catch_up_projected_per_sec)
PUB_MS=$(val catch-up catch_up_published_ms)

# ---------------------------------------------------------------- summary
{
  header_lines
  row "measurement" "measured" "" "baseline" "ratio" "target" "verdict"
  row "----------------------------------" "--------------" "--------" "--------------" "-------" "------------" "-------"
  r=$(ratio "$REB_RATINGS_RATE" "$READ_RATE")
  row "rebuild ratings" "$REB_RATINGS_RATE ev/s" "" "$READ_RATE ev/s" "${r}x" ">= 100k/s" "$(verdict "$REB_RATINGS_RATE" ">=" 100000)"
  r=$(ratio "$REB_ALL_RATE" "$READ_RATE")
  row "rebuild --all" "$REB_ALL_RATE ev/s" "" "$READ_RATE ev/s" "${r}x" ">= 100k/s" "$(verdict "$REB_ALL_RATE" ">=" 100000)"
  row "relay publishing again after NATS" "${RECONNECT}ms" "" "" "" "<= 1000ms" "$(verdict "$RECONNECT" "<=" 1000)"
  r=$(ratio "$DRAIN" "$JS_RATE")
  row "relay drain" "$DRAIN ev/s" "" "$JS_RATE msg/s" "${r}x" ">= 50k/s" "$(verdict "$DRAIN" ">=" 50000)"
  r=$(ratio "$PROJ_RATE" "$JS_RATE")
  row "projections caught up" "$PROJ_RATE ev/s" "" "$JS_RATE msg/s" "${r}x" ">= 50k/s" "$(verdict "$PROJ_RATE" ">=" 50000)"
  echo
  echo "log: $LOG_EVENTS events ($PIPE_EVENTS seeded rating events over ${#IDS[@]} comics, seeded in bulk);"
  echo "  rebuild ratings applied $REB_RATINGS_EVENTS events in ${REB_RATINGS_SECS}s, --all $REB_ALL_EVENTS in ${REB_ALL_SECS}s"
  echo "  (wall time of the command, process start included; --all counts each projection's events)."
  echo "baseline for rebuilds: psql \\copy of the whole log in commit order to /dev/null, ${READ_SECS}s."
  echo "outage: nats-server -9, $((TARGET - FROM)) events appended meanwhile; from the port accepting"
  echo "  connections: stream moving ${RECONNECT}ms, backlog published ${PUB_MS}ms, ratings and catalog"
  echo "  projections caught up ${PROJ_MS}ms (rates over the time from the stream's first move)."
  echo "baseline for the outage: comics-bench js-publish, 100000 x 400 B, 1024 in flight, same server."
} | tee "$OUT/summary.txt"
