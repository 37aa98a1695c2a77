#!/usr/bin/env bash
# The comics benchmark suite: one run, one machine, figures printed as ratios
# against baselines measured in the same run (see README, Benchmarks).
#
#   bench/run.sh                    # ~3 minutes after the release build
#   bench/run.sh live               # ~5 minutes: reads, writes and rankings while live (bench/live.sh)
#   bench/run.sh catalog            # ~8 minutes: 100k comics, Zipf reads, search, deep pages (bench/catalog.sh)
#   bench/run.sh cost               # ~3 minutes: CPU per live write by process, spread ratings (bench/cost.sh)
#   bench/run.sh pipeline           # ~2 minutes: rebuilds, catching up after a NATS outage (bench/pipeline.sh)
#   bench/run.sh audit              # ~5 minutes: the audit at 1 million events (bench/audit.sh)
#   bench/run.sh pages              # ~1 minute: page bytes, uploads, memory during uploads (bench/pages.sh)
#
# Needs: Postgres on 127.0.0.1:5432 (user postgres, trust), NATS with
# JetStream on 127.0.0.1:4222, wrk, pgbench, psql, curl.
# Knobs (environment): BENCH_SECONDS (10, per measurement), BENCH_COMICS (200),
# BENCH_PORT (18900), BENCH_CEILING_PORT (18901), PGHOST/PGPORT/PGUSER, NATS_URL;
# the live and catalog modes' own are listed in bench/live.sh and bench/catalog.sh.
# Raw outputs are kept in target/bench/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-default}
case "$MODE" in
  default | live | catalog | cost | pipeline | audit | pages) ;;
  *) echo "usage: bench/run.sh [live|catalog|cost|pipeline|audit|pages]" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
. bench/lib.sh
preflight
build
# These two start their own nats-server first, then the server.
if [ "$MODE" = pipeline ]; then
  # shellcheck source=bench/pipeline.sh
  . bench/pipeline.sh
  exit 0
fi
if [ "$MODE" = audit ]; then
  # shellcheck source=bench/audit.sh
  . bench/audit.sh
  exit 0
fi
start_server

if [ "$MODE" = live ]; then
  # shellcheck source=bench/live.sh
  . bench/live.sh
  exit 0
fi
if [ "$MODE" = cost ]; then
  # shellcheck source=bench/cost.sh
  . bench/cost.sh
  exit 0
fi
if [ "$MODE" = pages ]; then
  # shellcheck source=bench/pages.sh
  . bench/pages.sh
  exit 0
fi
if [ "$MODE" = catalog ]; then
  # shellcheck source=bench/catalog.sh
  . bench/catalog.sh
  exit 0
fi

COMICS=${BENCH_COMICS:-200}
say "seeding $COMICS comics (3 ratings and 5 views each)"
"$BIN/comics-bench" seed --base "$BASE" --comics "$COMICS" --ratings 3 --views 5 >"$OUT/seed.txt"
mapfile -t IDS < <(awk '$1 == "comic_id" {print $2}' "$OUT/seed.txt")
[ "${#IDS[@]}" -ge 3 ] || die "seeding produced ${#IDS[@]} comics"
HOT=${IDS[0]}
sleep 2 # let the views of the seed reach the popularity projection

# read_bench NAME URL: the endpoint and a ceiling of its response's size, if
# the endpoint answers 200; sets <NAME>_STATUS and <NAME>_SIZE too.
read_bench() {
  local name=$1 url=$2 status size
  status=$(status_of "$url")
  printf -v "${name}_STATUS" '%s' "$status"
  if [ "$status" != 200 ]; then
    say "skipping $url: it answers $status"
    return
  fi
  size=$(size_of "$url")
  printf -v "${name}_SIZE" '%s' "$size"
  ceiling "$name" "$size"
  run_wrk "$name" "$url"
}

DETAIL_RPS="" STATS_RPS="" POPULAR_RPS=""
read_bench DETAIL "$BASE/api/v1/comics/$HOT"
[ "$DETAIL_STATUS" = 200 ] || die "GET /api/v1/comics/$HOT answers $DETAIL_STATUS"
read_bench STATS "$BASE/api/v1/comics/$HOT/stats"
read_bench POPULAR "$BASE/api/v1/rankings/popular"

say "pgbench baselines on database $SCRATCH"
pg_scratch
pg_run insert insert "single-row INSERT transactions"
INSERT_TPS=$PG_TPS
pg_run hot-update update "hot-row UPDATE t SET views = views + 1 WHERE id = 1"
UPDATE_TPS=$PG_TPS
psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"

# The lag first, so that it sees its own write load and not the backlog the
# throughput runs leave behind.
bench lag --base "$BASE" --writers 8 --probes 4 --seconds 15 --min-samples 200 --max-seconds 60

# Ratings: 20 000 users round robin on one comic (wrk, lighter than a Rust
# HTTP client, with bench/load.lua), 64 connections (pgbench's INSERT peaks
# at 16 clients, and gives less with more).
say "minting 20000 user tokens"
"$BIN/comics-bench" tokens --count 20000 --out "$OUT/tokens.txt" >&2
wrk_write RATE "$BASE/api/v1/comics/${IDS[1]}/rating" rate 64

# Let the relay and projectors finish the ratings' backlog before the next
# measurement (see settle in bench/lib.sh).
say "waiting for the projections to catch up"
settle "${IDS[1]}"

# Views: each request as a new reader of the hot comic.
TOKENS=$((SECONDS_EACH * 70000))
say "minting $TOKENS reader tokens"
"$BIN/comics-bench" tokens --count "$TOKENS" --out "$OUT/tokens.txt" >&2
views_total() {
  curl -s "$BASE/api/v1/comics/$HOT/stats" | sed -n 's/.*"views":{"total":\([0-9]*\).*/\1/p'
}
VIEWS_BEFORE=$(views_total)
wrk_write VIEW "$BASE/api/v1/comics/$HOT/views" view 64
rm -f "$OUT/tokens.txt"
# Every accepted view must be counted: wait for the recorder and the read side.
VIEWS_WANT=$((VIEWS_BEFORE + VIEW_OK))
for _ in $(seq 1 120); do
  VIEWS_AFTER=$(views_total)
  [ "${VIEWS_AFTER:-0}" -ge "$VIEWS_WANT" ] && break
  sleep 0.5
done
VIEWS_COUNTED=$((VIEWS_AFTER - VIEWS_BEFORE))

LAG_P50=$(val lag lag_p50_ms); LAG_P99=$(val lag lag_p99_ms); LAG_MAX=$(val lag lag_max_ms)
LAG_N=$(val lag lag_samples); LAG_W=$(val lag lag_background_writes_per_sec)
LAG_ACK_P99=$(val lag lag_after_ack_p99_ms)

# ---------------------------------------------------------------- summary
read_row() { # label NAME (reads <NAME>_RPS, _P99, _SIZE, _STATUS and CEIL_<NAME>_*)
  local v=$2_RPS st=$2_STATUS p=$2_P99 sz=$2_SIZE c=CEIL_$2_RPS cp=CEIL_$2_P99 r
  if [ -z "${!v:-}" ]; then
    row "$1" "-" "-" "-" "-" ">= 0.5x" "n/a (answers ${!st:-?})"
    return
  fi
  r=$(ratio "${!v}" "${!c}")
  row "$1" "${!v}/s" "${!p}ms" "${!c}/s" "${r}x" ">= 0.5x" "$(verdict "$r" ">=" 0.5)"
  CEILINGS+="  ceiling for $1: ${!sz} B body, p99 ${!cp}ms"$'\n'
}
CEILINGS=""

{
  header_lines
  row "measurement" "measured" "p99" "baseline" "ratio" "target" "verdict"
  row "----------------------------------" "--------------" "--------" "--------------" "-------" "------------" "-------"
  read_row "GET /comics/{id} (detail)" DETAIL
  read_row "GET /comics/{id}/stats" STATS
  read_row "GET /rankings/popular" POPULAR
  r=$(ratio "$RATE_RPS" "$INSERT_TPS")
  row "PUT rating commands" "$RATE_RPS/s" "${RATE_P99}ms" "$INSERT_TPS tx/s" "${r}x" ">= 0.5x" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$VIEW_RPS" "$UPDATE_TPS")
  row "POST views accepted (202)" "$VIEW_RPS/s" "${VIEW_P99}ms" "$UPDATE_TPS tx/s" "${r}x" ">= 10x" "$(verdict "$r" ">=" 10)"
  row "command-to-visible lag p50" "${LAG_P50}ms" "" "" "" "" ""
  row "command-to-visible lag p99" "${LAG_P99}ms" "" "" "" "<= 100ms" "$(verdict "$LAG_P99" "<=" 100)"
  echo
  echo "baselines: ceiling = comics-bench ceiling (axum, a fixed JSON body of the endpoint's response size)"
  echo "  under the same wrk -t2 -c64 -d${SECONDS_EACH}s;"
  printf '%s' "$CEILINGS"
  echo "  insert = pgbench -n -c16 -j2 -T$SECONDS_EACH single-row INSERT transactions;"
  echo "  update = pgbench -n -c16 -j2 -T$SECONDS_EACH 'UPDATE t SET views = views + 1 WHERE id = 1'."
  echo "ratings: wrk -t2 -c64 with bench/load.lua; the projections then took ${SETTLE_SECONDS}s to catch up"
  echo "         before the views were measured."
  echo "views: $VIEW_OK answered 202 by the end of the run, $VIEWS_COUNTED counted in /stats"
  echo "       (at least as many: requests still in flight when wrk stops are accepted but not tallied by wrk)."
  echo "errors: ratings non-2xx $RATE_ERR, views non-2xx $VIEW_ERR, wrk non-2xx detail ${DETAIL_BAD:-0} stats ${STATS_BAD:-0} popular ${POPULAR_BAD:-0}."
  [ "${LAG_N:-0}" -ge 200 ] || echo "warning: only $LAG_N lag samples in 60 s (200 asked): the lag is too long to sample fully."
  echo "lag: $LAG_N samples, max ${LAG_MAX}ms, p99 after the command's answer ${LAG_ACK_P99}ms, under $LAG_W background writes/s."
} | tee "$OUT/summary.txt"
