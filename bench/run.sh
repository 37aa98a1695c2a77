#!/usr/bin/env bash
# The comics benchmark suite: one run, one machine, figures printed as ratios
# against baselines measured in the same run (see README, Benchmarks).
#
#   bench/run.sh                    # ~3 minutes after the release build
#
# Needs: Postgres on 127.0.0.1:5432 (user postgres, trust), NATS with
# JetStream on 127.0.0.1:4222, wrk, pgbench, psql, curl.
# Knobs (environment): BENCH_SECONDS (10, per measurement), BENCH_COMICS (200),
# BENCH_PORT (18900), BENCH_CEILING_PORT (18901), PGHOST/PGPORT/PGUSER, NATS_URL.
# Raw outputs are kept in target/bench/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${BENCH_SECONDS:-10}
COMICS=${BENCH_COMICS:-200}
PORT=${BENCH_PORT:-18900}
CEILING_PORT=${BENCH_CEILING_PORT:-18901}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
NATS=${NATS_URL:-nats://127.0.0.1:4222}
DB=comics_bench
SCRATCH=comics_bench_pg
PREFIX=bench
STREAMS=(BENCH_EVENTS BENCH_VIEWS)
SECRET="comics-bench-secret-$(date +%s)"
BASE="http://127.0.0.1:$PORT"
OUT="target/bench/$(date -u +%Y%m%dT%H%M%SZ)"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null || die "$1 is missing: $2"
}
need wrk "apt-get install wrk"
need pgbench "apt-get install postgresql (on Debian pgbench comes with the server package)"
need psql "apt-get install postgresql-client"
need curl "apt-get install curl"
need cargo "install Rust (see README, Prerequisites)"
pg_isready -q 2>/dev/null || psql -d postgres -Atqc 'select 1' >/dev/null \
  || die "Postgres is not reachable at $PGHOST:$PGPORT as $PGUSER (see README, Prerequisites)"
(exec 3<>"/dev/tcp/127.0.0.1/${NATS##*:}") 2>/dev/null \
  || die "NATS is not reachable at $NATS (see README, Prerequisites)"

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
say "building (release)"
cargo build --release -p comics -p comics-bench >&2
BIN=$PWD/target/release
mkdir -p "$OUT"

SERVER_PID=""
CEILING_PID=""
cleanup() {
  set +e
  for pid in $CEILING_PID $SERVER_PID; do
    kill -INT "$pid" 2>/dev/null
  done
  for pid in $CEILING_PID $SERVER_PID; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null
  psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)" 2>/dev/null
  "$BIN/comics-bench" drop-streams --nats "$NATS" "${STREAMS[@]}" 2>/dev/null
  echo "bench: stopped the server, dropped $DB, $SCRATCH and the $PREFIX streams; raw outputs in $OUT" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "fresh database $DB, NATS prefix $PREFIX"
psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"
"$BIN/comics-bench" drop-streams --nats "$NATS" "${STREAMS[@]}"
psql -d postgres -qc "CREATE DATABASE $DB"

say "starting comics serve on $BASE"
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" \
  NATS_URL="$NATS" COMICS_NATS_PREFIX=$PREFIX COMICS_HTTP_ADDR="127.0.0.1:$PORT" \
  COMICS_JWT_SECRET="$SECRET" RUST_LOG=${RUST_LOG:-warn} \
  "$BIN/comics" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 150); do
  curl -sf "$BASE/health/ready" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$OUT/server.log" >&2; die "comics serve exited"; }
  [ "$i" = 150 ] && die "comics serve not ready after 30 s (see $OUT/server.log)"
  sleep 0.2
done

export COMICS_JWT_SECRET=$SECRET
say "seeding $COMICS comics (3 ratings and 5 views each)"
"$BIN/comics-bench" seed --base "$BASE" --comics "$COMICS" --ratings 3 --views 5 >"$OUT/seed.txt"
mapfile -t IDS < <(awk '$1 == "comic_id" {print $2}' "$OUT/seed.txt")
[ "${#IDS[@]}" -ge 3 ] || die "seeding produced ${#IDS[@]} comics"
HOT=${IDS[0]}
sleep 2 # let the views of the seed reach the popularity projection

status_of() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
size_of() { curl -s "$1" | wc -c; }

# wrk NAME URL: runs wrk, keeps its output, sets <NAME>_RPS and <NAME>_P99 (ms).
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}
run_wrk() {
  local name=$1 url=$2 file="$OUT/wrk-$1.txt"
  say "wrk -t2 -c64 -d${SECONDS_EACH}s --latency $url"
  wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$url" >"$file"
  cat "$file" >&2
  local rps p99 bad
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
  printf -v "${name}_RPS" '%s' "${rps:-0}"
  printf -v "${name}_P99" '%s' "${p99:-0}"
  printf -v "${name}_BAD" '%s' "${bad:-0}"
}

# ceiling NAME SIZE: the axum ceiling with a fixed SIZE-byte JSON body under
# the same wrk; sets CEIL_<NAME>_RPS and CEIL_<NAME>_P99.
ceiling() {
  local name=$1 size=$2
  say "ceiling for $name: axum with a fixed ${size}-byte JSON body on :$CEILING_PORT"
  "$BIN/comics-bench" ceiling --addr "127.0.0.1:$CEILING_PORT" --size "$size" >>"$OUT/ceiling.log" 2>&1 &
  CEILING_PID=$!
  for i in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$CEILING_PORT/any" >/dev/null && break
    [ "$i" = 50 ] && die "the ceiling server did not start"
    sleep 0.1
  done
  run_wrk "CEIL_$name" "http://127.0.0.1:$CEILING_PORT/any"
  kill -INT "$CEILING_PID" 2>/dev/null
  wait "$CEILING_PID" 2>/dev/null || true
  CEILING_PID=""
}

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
psql -d postgres -qc "CREATE DATABASE $SCRATCH"
psql -d "$SCRATCH" -q <<'SQL'
CREATE TABLE bench_insert (
  id bigserial PRIMARY KEY,
  comic_id uuid NOT NULL,
  user_id text NOT NULL,
  score int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE t (id int PRIMARY KEY, views bigint NOT NULL DEFAULT 0);
INSERT INTO t VALUES (1, 0);
SQL
cat >"$OUT/insert.sql" <<'SQL'
\set score random(1, 10)
INSERT INTO bench_insert (comic_id, user_id, score) VALUES (gen_random_uuid(), 'user-' || :client_id, :score);
SQL
echo 'UPDATE t SET views = views + 1 WHERE id = 1;' >"$OUT/hot-update.sql"
pg_tps() { awk '/^tps = / {printf "%.1f", $3; exit}' "$1"; }
say "pgbench -n -c16 -j2 -T$SECONDS_EACH: single-row INSERT transactions"
pgbench -n -c16 -j2 -T"$SECONDS_EACH" -f "$OUT/insert.sql" "$SCRATCH" >"$OUT/pgbench-insert.txt" 2>&1
tail -3 "$OUT/pgbench-insert.txt" >&2
INSERT_TPS=$(pg_tps "$OUT/pgbench-insert.txt")
say "pgbench -n -c16 -j2 -T$SECONDS_EACH: hot-row UPDATE t SET views = views + 1 WHERE id = 1"
pgbench -n -c16 -j2 -T"$SECONDS_EACH" -f "$OUT/hot-update.sql" "$SCRATCH" >"$OUT/pgbench-update.txt" 2>&1
tail -3 "$OUT/pgbench-update.txt" >&2
UPDATE_TPS=$(pg_tps "$OUT/pgbench-update.txt")
psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"

# bench NAME ARGS…: runs comics-bench, keeps its output, echoes it.
bench() {
  local name=$1; shift
  say "comics-bench $name $*"
  "$BIN/comics-bench" "$name" "$@" | tee "$OUT/$name.txt" >&2
}
val() { awk -v k="$2" '$1 == k {print $2}' "$OUT/$1.txt"; }

# The lag first, so that it sees its own write load and not the backlog the
# throughput runs leave behind.
bench lag --base "$BASE" --writers 8 --probes 4 --seconds 15 --min-samples 200 --max-seconds 60

# wrk_write NAME URL KIND CONNECTIONS: wrk with bench/load.lua and the token
# file $OUT/tokens.txt; sets <NAME>_OK (answered 2xx), <NAME>_ERR (other
# answers), <NAME>_RPS (2xx per second) and <NAME>_P99 (ms).
wrk_write() {
  local name=$1 url=$2 kind=$3 conns=$4 file="$OUT/wrk-$1.txt" reqs secs bad
  say "wrk -t2 -c$conns -d${SECONDS_EACH}s --latency -s bench/load.lua $url -- <tokens> 2 $kind"
  wrk -t2 -c"$conns" -d"${SECONDS_EACH}s" --latency -s bench/load.lua "$url" -- "$OUT/tokens.txt" 2 "$kind" >"$file"
  cat "$file" >&2
  reqs=$(awk '/requests in/ {print $1}' "$file")
  secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$file")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
  printf -v "${name}_OK" '%s' "$((reqs - ${bad:-0}))"
  printf -v "${name}_ERR" '%s' "${bad:-0}"
  printf -v "${name}_RPS" '%s' "$(awk -v n="$reqs" -v e="${bad:-0}" -v s="$secs" 'BEGIN { printf "%.1f", (n - e) / s }')"
  printf -v "${name}_P99" '%s' "$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")"
}

# Ratings: 20 000 users round robin on one comic (wrk, lighter than a Rust
# HTTP client, with bench/load.lua), 64 connections (pgbench's INSERT peaks
# at 16 clients, and gives less with more).
say "minting 20000 user tokens"
"$BIN/comics-bench" tokens --count 20000 --out "$OUT/tokens.txt" >&2
wrk_write RATE "$BASE/api/v1/comics/${IDS[1]}/rating" rate 64

# Let the relay and projectors finish the ratings' backlog before the next
# measurement: one more rating, then its consistency token on a read (each
# read waits up to 5 s; 503 means not yet).
settle() {
  local user token header status deadline
  # A new user each run: a rating that is always a change (a RatingGiven).
  user=$(COMICS_JWT_SECRET=$SECRET "$BIN/comics" token --sub "bench-settle-$(date +%s%N)" --ttl 10m)
  header=$(curl -s -o /dev/null -D - --max-time 10 -X PUT -H "Authorization: Bearer $user" \
    -H 'Content-Type: application/json' -d '{"score":7}' \
    "$BASE/api/v1/comics/${IDS[1]}/rating")
  status=$(printf '%s' "$header" | awk 'NR == 1 {print $2}')
  [ "$status" = 200 ] || die "the settling rating was answered $status"
  token=$(printf '%s' "$header" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-consistency-token" {print $2}')
  [ -n "$token" ] || die "the settling rating got no consistency token"
  deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    # Each read waits up to 5 s for the token, then answers 503.
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Consistency-Token: $token" \
      "$BASE/api/v1/comics/${IDS[1]}/stats")
    [ "$status" = 200 ] && return
    [ "$status" = 503 ] || sleep 1
  done
  die "the projections did not catch up within 2 minutes"
}
say "waiting for the projections to catch up"
SETTLE_START=$(date +%s.%N)
settle
SETTLE_SECONDS=$(awk -v a="$SETTLE_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { # value op bound
  awk -v v="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (v == "" || v == "-") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= b + 0) : (v + 0 <= b + 0); print ok ? "PASS" : "MISS" }'
}
row() { printf '%-34s %14s %8s %14s %7s %-12s %s\n' "$@"; }
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
  echo
  echo "comics benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(uname -m)), Postgres $(psql -d postgres -Atc 'show server_version' | cut -d' ' -f1)"
  echo "note: the load generators (wrk, pgbench, comics-bench) share these $(nproc) cores with the server,"
  echo "      Postgres and NATS, so every figure is a floor for the service alone."
  echo "      1-minute load average before the run: $LOAD_BEFORE (anything else running skews the figures)."
  echo
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
