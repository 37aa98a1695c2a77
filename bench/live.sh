# The live mode of bench/run.sh (`bench/run.sh live`), sourced once lib.sh's
# start_server has the server up: hot reads that stay hot while the platform
# is live (issue 8). In one run, against baselines of the same run:
#   1. quiet reads of 1000 comics drawn from a Zipf distribution (s = 1),
#      and the popular ranking, vs the ceiling of the same body size;
#   2. the same reads under a paced background write load (ratings and
#      views, Zipf-skewed comics), vs the quiet reads and the ceiling;
#   3. rating and bookmark commands spread over 1000 comics x 5000 users,
#      vs pgbench single-row INSERTs;
#   4. the popular ranking answered from Postgres (X-Consistency-Token) with
#      1 day and with 30 days of stored view history;
#   5. the command-to-visible lag under the write load of 2.
# Knobs (environment), besides lib.sh's: BENCH_LIVE_COMICS (1000),
# BENCH_LIVE_USERS (5000), BENCH_WRITE_RATE (250 writes/s),
# BENCH_VIEWS_PER_DAY (100000, of the seeded history), BENCH_RANK_CONNECTIONS
# (4), BENCH_ZIPF_S (1).

LIVE_COMICS=${BENCH_LIVE_COMICS:-1000}
LIVE_USERS=${BENCH_LIVE_USERS:-5000}
WRITE_RATE=${BENCH_WRITE_RATE:-250}
VIEWS_PER_DAY=${BENCH_VIEWS_PER_DAY:-100000}
RANK_CONNS=${BENCH_RANK_CONNECTIONS:-4}
ZIPF_S=${BENCH_ZIPF_S:-1}
IDS_FILE="$OUT/comics.txt"
POPULAR_URL="$BASE/api/v1/rankings/popular?window=7d"
WRK_ERRORS=""

# reads PHASE: the three hot reads, as <PHASE>_DETAIL, _STATS and _POPULAR.
reads() {
  wrk_lua "$1_DETAIL" 64 -s bench/zipf.lua "$BASE" -- "$IDS_FILE" "$ZIPF_S" detail
  wrk_lua "$1_STATS" 64 -s bench/zipf.lua "$BASE" -- "$IDS_FILE" "$ZIPF_S" stats
  wrk_lua "$1_POPULAR" 64 "$POPULAR_URL"
}

# ranking DAYS: the popular ranking (30d and 7d windows) from the store,
# after the seeded history reaches DAYS days; sets RANK<DAYS>_30D_*,
# RANK<DAYS>_7D_*, SEED<DAYS>_* and CAUGHT<DAYS> (seconds, or "no").
ranking() {
  local days=$1 skip=${2:-0} file="$OUT/seed-views-${1}d.txt" token start rows
  say "seeding view history: days $skip..$days back, $VIEWS_PER_DAY views a day over $LIVE_COMICS comics"
  "$BIN/comics-bench" seed-views --database-url "$DATABASE" --comics "$IDS_FILE" \
    --days "$days" --skip-days "$skip" --views-per-day "$VIEWS_PER_DAY" --zipf "$ZIPF_S" | tee "$file" >&2
  token=$(awk '$1 == "seed_views_token" {print $2}' "$file")
  printf -v "SEED${days}_EVENTS" '%s' "$(awk '$1 == "seed_views_events" {print $2}' "$file")"
  printf -v "SEED${days}_MINUTES" '%s' "$(awk '$1 == "seed_views_minutes" {print $2}' "$file")"
  printf -v "SEED${days}_SECONDS" '%s' "$(awk '$1 == "seed_views_seconds" {print $2}' "$file")"
  say "waiting for the popularity projection to apply the seeded events"
  start=$(date +%s.%N)
  if wait_token "$BASE/api/v1/rankings/popular?window=30d" "$token" 300; then
    printf -v "CAUGHT${days}" '%s' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  else
    printf -v "CAUGHT${days}" '%s' "no (300 s)"
  fi
  rows=$(psql -d "$DB" -Atc "SELECT count(*) || ' rows, ' || coalesce(sum(views), 0) || ' views' FROM popularity.minutes" 2>/dev/null || echo "?")
  printf -v "STORED${days}" '%s' "$rows"
  # Statistics and visibility as autovacuum keeps them on a history grown
  # over days, not right after a bulk load.
  start=$(date +%s.%N)
  psql -d "$DB" -qc "VACUUM (ANALYZE)" 2>/dev/null || true
  printf -v "VACUUMED${days}" '%s' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  # The token (already applied) takes each read past the cache to Postgres.
  wrk_lua "RANK${days}_30D" "$RANK_CONNS" --timeout 60s -H "X-Consistency-Token: $token" \
    "$BASE/api/v1/rankings/popular?window=30d"
  wrk_lua "RANK${days}_7D" "$RANK_CONNS" --timeout 60s -H "X-Consistency-Token: $token" \
    "$BASE/api/v1/rankings/popular?window=7d"
}

# ---------------------------------------------------------------- the run
seed_live

say "1. quiet reads, Zipf (s = $ZIPF_S) over ${#IDS[@]} comics, and their ceilings"
DETAIL_URL="$BASE/api/v1/comics/${IDS[0]}"
[ "$(status_of "$DETAIL_URL")" = 200 ] || die "GET $DETAIL_URL answers $(status_of "$DETAIL_URL")"
[ "$(status_of "$POPULAR_URL")" = 200 ] || die "GET $POPULAR_URL answers $(status_of "$POPULAR_URL")"
DETAIL_SIZE=$(size_of "$DETAIL_URL")
STATS_SIZE=$(size_of "$DETAIL_URL/stats")
POPULAR_SIZE=$(size_of "$POPULAR_URL")
ceiling DETAIL "$DETAIL_SIZE"
ceiling STATS "$STATS_SIZE"
ceiling POPULAR "$POPULAR_SIZE"
say "warming the read cache (2 s of each Zipf read, not measured)"
for kind in detail stats; do
  wrk -t2 -c64 -d2s -s bench/zipf.lua "$BASE" -- "$IDS_FILE" "$ZIPF_S" "$kind" >"$OUT/warm-$kind.txt" || true
done
reads Q

say "2. the same reads under $WRITE_RATE background writes/s (ratings and views)"
start_writer
sleep 3 # the write load reaches the projections and the cache
reads L
say "5. command-to-visible lag under the same write load"
bench lag --base "$BASE" --writers 0 --probes 4 --seconds 15 --min-samples 200 --max-seconds 60
stop_pid "$WRITER_PID"
WRITER_PID=""
cat "$OUT/writes.txt" >&2

say "waiting for the projections to catch up"
settle "${IDS[1]}"
say "3. rating and bookmark commands spread over ${#IDS[@]} comics x $LIVE_USERS users"
pg_scratch
pg_run insert insert "single-row INSERT transactions"
INSERT_TPS=$PG_TPS
psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"
"$BIN/comics-bench" tokens --count "$LIVE_USERS" --out "$OUT/tokens.txt" >&2
wrk_lua SPREAD_RATE 64 -s bench/spread.lua "$BASE" -- "$OUT/tokens.txt" "$IDS_FILE" 2 rate
settle "${IDS[1]}"
wrk_lua SPREAD_BOOKMARK 64 -s bench/spread.lua "$BASE" -- "$OUT/tokens.txt" "$IDS_FILE" 2 bookmark
rm -f "$OUT/tokens.txt"

say "4. the popular ranking from the store, with 1 and with 30 days of view history"
settle "${IDS[1]}"
ranking 1
ranking 30 1

# A real view after the seeding must still count: the seeded events carry the
# aggregate's last_view_seq forward, so the recorder takes the next one.
views_of() { # COMIC TOKEN: the comic's total views, read past the cache
  curl -s --max-time 10 -H "X-Consistency-Token: $2" "$BASE/api/v1/comics/$1/stats" \
    | sed -n 's/.*"views":{"total":\([0-9]*\).*/\1/p'
}
say "checking that a real view still counts after the seeded history"
SEEDED_TOKEN=$(awk '$1 == "seed_views_token" {print $2}' "$OUT/seed-views-30d.txt")
VIEWS_BEFORE=$(views_of "${IDS[0]}" "$SEEDED_TOKEN")
VIEWER=$(COMICS_JWT_SECRET=$SECRET "$BIN/comics" token --sub "bench-check-$(date +%s%N)" --ttl 10m)
VIEW_TOKEN=$(curl -s -o /dev/null -D - --max-time 10 -X POST -H "Authorization: Bearer $VIEWER" \
  "$BASE/api/v1/comics/${IDS[0]}/views" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-consistency-token" {print $2}')
VIEWS_AFTER=""
for _ in $(seq 1 10); do
  VIEWS_AFTER=$(views_of "${IDS[0]}" "$VIEW_TOKEN")
  [ -n "$VIEWS_AFTER" ] && break
done
if [ "${VIEWS_AFTER:-0}" = $((${VIEWS_BEFORE:-0} + 1)) ]; then
  VIEW_CHECK="counted (total $VIEWS_BEFORE -> $VIEWS_AFTER)"
else
  VIEW_CHECK="NOT counted as one (total ${VIEWS_BEFORE:-?} -> ${VIEWS_AFTER:-?})"
fi

# ---------------------------------------------------------------- summary
w() { awk -v k="$1" '$1 == k {print $2}' "$OUT/writes.txt"; }
LAG_P50=$(val lag lag_p50_ms); LAG_P99=$(val lag lag_p99_ms); LAG_MAX=$(val lag lag_max_ms)
LAG_N=$(val lag lag_samples); LAG_ACK_P99=$(val lag lag_after_ack_p99_ms)
lrow() { printf '%-38s %12s %9s %19s %7s %-21s %s\n' "$@"; }
both() { if [ "$1" = PASS ] && [ "$2" = PASS ]; then echo PASS; else echo MISS; fi; }

# live_rows LABEL NAME: the quiet and live rows of one read.
live_rows() {
  local q=Q_$2_RPS qp=Q_$2_P99 l=L_$2_RPS lp=L_$2_P99 c=CEIL_$2_RPS rq rc
  rq=$(ratio "${!l}" "${!q}")
  rc=$(ratio "${!l}" "${!c}")
  lrow "live $1 / quiet" "${!l}/s" "${!lp}ms" "quiet ${!q}/s" "${rq}x" ">= 0.7x, p99 <= 10ms" \
    "$(both "$(verdict "$rq" ">=" 0.7)" "$(verdict "${!lp}" "<=" 10)")"
  lrow "live $1 / ceiling" "" "" "ceiling ${!c}/s" "${rc}x" ">= 0.5x, p99 <= 10ms" \
    "$(both "$(verdict "$rc" ">=" 0.5)" "$(verdict "${!lp}" "<=" 10)")"
}
quiet_row() { # LABEL NAME TARGET VERDICT
  local q=Q_$2_RPS qp=Q_$2_P99 c=CEIL_$2_RPS
  lrow "quiet $1" "${!q}/s" "${!qp}ms" "ceiling ${!c}/s" "$(ratio "${!q}" "${!c}")x" "$3" "$4"
}
rank_rows() { # WINDOW
  local a=RANK1_$1_P99 b=RANK30_$1_P99 a50=RANK1_$1_P50 b50=RANK30_$1_P50 r
  r=$(ratio "${!b}" "${!a}")
  lrow "ranking ${1,,} from store, 1 day kept" "p50 ${!a50}ms" "${!a}ms" "" "" "" ""
  lrow "ranking ${1,,} from store, 30 days kept" "p50 ${!b50}ms" "${!b}ms" "1 day p99 ${!a}ms" "${r}x" "<= 1.5x" \
    "$(verdict "$r" "<=" 1.5)"
}

{
  header_lines
  lrow "measurement (live mode)" "measured" "p99" "baseline" "ratio" "target" "verdict"
  lrow "--------------------------------------" "------------" "---------" "-------------------" "-------" "---------------------" "-------"
  quiet_row "GET /comics/{id}" DETAIL "p99 <= 10ms" "$(verdict "$Q_DETAIL_P99" "<=" 10)"
  quiet_row "GET /comics/{id}/stats" STATS "-" ""
  quiet_row "GET /rankings/popular 7d" POPULAR "-" ""
  live_rows "GET /comics/{id}" DETAIL
  live_rows "GET /comics/{id}/stats" STATS
  live_rows "GET /rankings/popular 7d" POPULAR
  r=$(ratio "$SPREAD_RATE_RPS" "$INSERT_TPS")
  lrow "PUT rating, spread" "$SPREAD_RATE_RPS/s" "${SPREAD_RATE_P99}ms" "INSERT $INSERT_TPS tx/s" "${r}x" ">= 0.5x" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$SPREAD_BOOKMARK_RPS" "$INSERT_TPS")
  lrow "PUT/DELETE bookmark, spread" "$SPREAD_BOOKMARK_RPS/s" "${SPREAD_BOOKMARK_P99}ms" "INSERT $INSERT_TPS tx/s" "${r}x" "(reported)" ""
  rank_rows 30D
  rank_rows 7D
  lrow "lag p50 under the live writes" "${LAG_P50}ms" "" "" "" "" ""
  lrow "lag p99 under the live writes" "${LAG_P99}ms" "" "" "" "<= 100ms" "$(verdict "$LAG_P99" "<=" 100)"
  echo
  echo "reads: wrk -t2 -c64 -d${SECONDS_EACH}s; detail and stats of comics drawn by bench/zipf.lua (Zipf s = $ZIPF_S"
  echo "  over ${#IDS[@]} comics); GET /rankings/popular?window=7d. ceiling = comics-bench ceiling with a body of"
  echo "  the endpoint's size (detail $DETAIL_SIZE B, stats $STATS_SIZE B, popular $POPULAR_SIZE B), same wrk;"
  echo "  ceiling p99: detail ${CEIL_DETAIL_P99}ms, stats ${CEIL_STATS_P99}ms, popular ${CEIL_POPULAR_P99}ms."
  echo "live writes: comics-bench writes, target $(w writes_target_per_sec)/s (half ratings by $LIVE_USERS users, half views by"
  echo "  new readers, Zipf comics): $(w writes_ok) succeeded in $(w writes_seconds)s = $(w writes_per_sec)/s (slowest whole second"
  echo "  $(w writes_min_per_sec)), $(w writes_failed) failed, $(w writes_late) sent over 100 ms late; write p99 $(w writes_p99_ms)ms."
  echo "  They ran through the live reads and the lag."
  echo "spread: wrk -t2 -c64 with bench/spread.lua (random comic, random user, every request a change);"
  echo "  insert = pgbench -n -c16 -j2 -T$SECONDS_EACH single-row INSERT transactions."
  echo "ranking: wrk -c$RANK_CONNS --timeout 60s with X-Consistency-Token (past the cache, from Postgres);"
  echo "  1 day: $SEED1_EVENTS events, $SEED1_MINUTES minute counts seeded in ${SEED1_SECONDS}s, applied in ${CAUGHT1}s;"
  echo "    popularity.minutes then held $STORED1; requests 30d ${RANK1_30D_N}, 7d ${RANK1_7D_N}."
  echo "  30 days: $SEED30_EVENTS more events, $SEED30_MINUTES minute counts in ${SEED30_SECONDS}s, applied in ${CAUGHT30}s;"
  echo "    popularity.minutes then held $STORED30; requests 30d ${RANK30_30D_N}, 7d ${RANK30_7D_N}."
  echo "  Each then VACUUM (ANALYZE) (${VACUUMED1}s, ${VACUUMED30}s). A real view after it: $VIEW_CHECK."
  echo "lag: comics-bench lag --writers 0 --probes 4 during the live writes; $LAG_N samples, max ${LAG_MAX}ms,"
  echo "  p99 after the command's answer ${LAG_ACK_P99}ms."
  [ "${LAG_N:-0}" -ge 200 ] || echo "warning: only $LAG_N lag samples in 60 s (200 asked): the lag is too long to sample fully."
  echo "errors:${WRK_ERRORS:- none in any wrk run.}"
  echo "server log: $(grep -c -E 'WARN|ERROR' "$OUT/server.log" || true) warnings or errors (see $OUT/server.log)."
} | tee "$OUT/summary.txt"
