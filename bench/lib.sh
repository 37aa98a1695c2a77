# Shared by the modes of bench/run.sh (sourced, not run): configuration,
# checks, the build, a fresh database and server, clean-up on exit, and the
# wrk, pgbench and comics-bench helpers. See README, Benchmarks.

SECONDS_EACH=${BENCH_SECONDS:-10}
PORT=${BENCH_PORT:-18900}
CEILING_PORT=${BENCH_CEILING_PORT:-18901}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
NATS=${NATS_URL:-nats://127.0.0.1:4222}
# BENCH_PREFIX (bench) names the run's databases (comics_<prefix>,
# comics_<prefix>_pg) and NATS prefix, so two runs can share the services.
PREFIX=${BENCH_PREFIX:-bench}
DB=comics_$PREFIX
SCRATCH=comics_${PREFIX}_pg
STREAMS=("${PREFIX^^}_EVENTS" "${PREFIX^^}_VIEWS")
SECRET="comics-bench-secret-$(date +%s)"
BASE="http://127.0.0.1:$PORT"
OUT="target/bench/$(date -u +%Y%m%dT%H%M%SZ)"
DATABASE="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
# The server's image folder (removed on exit).
STORAGE_DIR="$PWD/$OUT/storage"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null || die "$1 is missing: $2"
}

# preflight: the tools and services every mode needs; sets LOAD_BEFORE.
preflight() {
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
}

build() {
  say "building (release)"
  cargo build --release -p comics -p comics-bench >&2
  BIN=$PWD/target/release
  mkdir -p "$OUT"
}

# Background processes this run started (stopped on exit, newest first).
SERVER_PID=""
CEILING_PID=""
WRITER_PID=""
NATS_PID="" # a mode's own nats-server, in NATS_DIR
NATS_DIR=""
stop_pid() { # PID: SIGINT, up to 5 s to finish, then SIGKILL
  kill -INT "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  for pid in $WRITER_PID $CEILING_PID $SERVER_PID; do
    stop_pid "$pid"
  done
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null
  psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)" 2>/dev/null
  "$BIN/comics-bench" drop-streams --nats "$NATS" "${STREAMS[@]}" 2>/dev/null
  if [ -n "$NATS_PID" ]; then
    stop_pid "$NATS_PID"
    rm -rf "$NATS_DIR"
  fi
  rm -rf "$STORAGE_DIR"
  echo "bench: stopped the server, dropped $DB, $SCRATCH and the $PREFIX streams and the images; raw outputs in $OUT" >&2
}

# own_nats: a nats-server of the run's own on a free loopback port, its
# store in a temporary folder (removed on exit), for the modes that kill it
# or fill it with a million events; points NATS at it. Call before
# start_server.
own_nats() {
  need nats-server "apt-get install nats-server"
  NATS_PORT=${BENCH_NATS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  NATS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/comics-bench-nats.XXXXXX")
  NATS="nats://127.0.0.1:$NATS_PORT"
  say "starting the run's own nats-server on $NATS (store $NATS_DIR)"
  start_nats
  wait_port "$NATS_PORT" 10 || die "nats-server did not start (see $OUT/nats-server.log)"
}
# start_nats: (again) the run's own nats-server, same port and store.
start_nats() {
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" >>"$OUT/nats-server.log" 2>&1 &
  NATS_PID=$!
}
wait_port() { # PORT SECONDS: until 127.0.0.1:PORT accepts connections
  local _i
  for _i in $(seq 1 $(($2 * 20))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_server: a fresh database and streams, then comics serve on $BASE.
start_server() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  say "fresh database $DB, NATS prefix $PREFIX"
  psql -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"
  "$BIN/comics-bench" drop-streams --nats "$NATS" "${STREAMS[@]}"
  psql -d postgres -qc "CREATE DATABASE $DB"

  # One load generator on loopback is one client address, and the seeders
  # write as one admin: the write rate limits are off for the benchmarks.
  say "starting comics serve on $BASE (write rate limits off)"
  mkdir -p "$STORAGE_DIR"
  DATABASE_URL="$DATABASE" COMICS_STORAGE_URL="file://$STORAGE_DIR" \
    NATS_URL="$NATS" COMICS_NATS_PREFIX=$PREFIX COMICS_HTTP_ADDR="127.0.0.1:$PORT" \
    COMICS_JWT_SECRET="$SECRET" RUST_LOG=${RUST_LOG:-warn} \
    COMICS_RATE_LIMIT_USER_PER_MINUTE=0 COMICS_RATE_LIMIT_ANONYMOUS_PER_MINUTE=0 \
    "$BIN/comics" serve >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 150); do
    curl -sf "$BASE/health/ready" >/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$OUT/server.log" >&2; die "comics serve exited"; }
    [ "$i" = 150 ] && die "comics serve not ready after 30 s (see $OUT/server.log)"
    sleep 0.2
  done
  export COMICS_JWT_SECRET=$SECRET
}

psql_events() { psql -d "$DB" -Atqc "$1"; } # SQL: one value from the run's database
# elapsed START: seconds since START (date +%s.%N), 3 decimals.
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
# comics_cli ARGS…: the comics command line against the run's database and NATS.
comics_cli() {
  DATABASE_URL="$DATABASE" NATS_URL="$NATS" COMICS_NATS_PREFIX=$PREFIX RUST_LOG=warn "$BIN/comics" "$@"
}

status_of() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
size_of() { curl -s "$1" | wc -c; }

to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# run_wrk NAME URL [ARGS…]: runs wrk, keeps its output, sets <NAME>_RPS,
# <NAME>_P99 (ms) and <NAME>_BAD (non-2xx answers). ARGS go after the URL:
# more options (a later -c or -d wins) and a script's `-- arguments`.
run_wrk() {
  local name=$1 url=$2 file="$OUT/wrk-$1.txt"
  shift 2
  say "wrk -t2 -c64 -d${SECONDS_EACH}s --latency $url${*:+ $*}"
  wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$url" "$@" >"$file"
  cat "$file" >&2
  local rps p99 bad
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
  printf -v "${name}_RPS" '%s' "${rps:-0}"
  printf -v "${name}_P99" '%s' "${p99:-0}"
  printf -v "${name}_BAD" '%s' "${bad:-0}"
}

# wrk_lua NAME CONNECTIONS WRK-ARGS…: wrk -cCONNECTIONS -d$SECONDS_EACH
# --latency WRK-ARGS…, output kept; sets <NAME>_RPS (2xx and 3xx answers per
# second), <NAME>_P50 and <NAME>_P99 (ms), <NAME>_N (answers), and notes
# non-2xx answers and socket errors (timeouts included) in WRK_ERRORS.
wrk_lua() {
  local name=$1 conns=$2 file="$OUT/wrk-$1.txt" threads=2 reqs secs bad sock
  shift 2
  [ "$conns" -ge 2 ] || threads=1
  say "wrk -t$threads -c$conns -d${SECONDS_EACH}s --latency $*"
  wrk -t"$threads" -c"$conns" -d"${SECONDS_EACH}s" --latency "$@" >"$file" || true
  cat "$file" >&2
  reqs=$(awk '/requests in/ {print $1}' "$file")
  secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$file")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
  sock=$(awk '/Socket errors:/ { for (i = 3; i <= NF; i++) n += $i + 0 } END { print n + 0 }' "$file")
  printf -v "${name}_N" '%s' "${reqs:-0}"
  printf -v "${name}_RPS" '%s' "$(awk -v n="${reqs:-0}" -v e="${bad:-0}" -v s="${secs:-0}" \
    'BEGIN { if (s > 0) printf "%.1f", (n - e) / s; else print 0 }')"
  printf -v "${name}_P50" '%s' "$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")"
  printf -v "${name}_P99" '%s' "$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")"
  if [ "${bad:-0}" != 0 ] || [ "$sock" != 0 ]; then
    WRK_ERRORS+=" $name: ${bad:-0} non-2xx, $sock socket errors;"
  fi
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

# pg_scratch: the scratch database of the pgbench baselines, with the
# single-row INSERT and hot-row UPDATE scripts in $OUT.
pg_scratch() {
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
}
pg_tps() { awk '/^tps = / {printf "%.1f", $3; exit}' "$1"; }
# pg_run SCRIPT NAME LABEL: pgbench -c16 -j2 with $OUT/SCRIPT.sql, output in
# $OUT/pgbench-NAME.txt; sets PG_TPS.
pg_run() {
  say "pgbench -n -c16 -j2 -T$SECONDS_EACH: $3"
  pgbench -n -c16 -j2 -T"$SECONDS_EACH" -f "$OUT/$1.sql" "$SCRATCH" >"$OUT/pgbench-$2.txt" 2>&1
  tail -3 "$OUT/pgbench-$2.txt" >&2
  PG_TPS=$(pg_tps "$OUT/pgbench-$2.txt")
}

# bench NAME ARGS…: runs comics-bench, keeps its output, echoes it.
bench() {
  local name=$1; shift
  say "comics-bench $name $*"
  "$BIN/comics-bench" "$name" "$@" | tee "$OUT/$name.txt" >&2
}
val() { awk -v k="$2" '$1 == k {print $2}' "$OUT/$1.txt"; }

# settle COMIC: lets the relay and projectors finish the backlog: one more
# rating of COMIC, then its consistency token on a read (each read waits up
# to 5 s; 503 means not yet). Sets SETTLE_SECONDS.
settle() {
  local comic=$1 user token header status start
  start=$(date +%s.%N)
  # A new user each run: a rating that is always a change (a RatingGiven).
  user=$(COMICS_JWT_SECRET=$SECRET "$BIN/comics" token --sub "bench-settle-$(date +%s%N)" --ttl 10m)
  header=$(curl -s -o /dev/null -D - --max-time 10 -X PUT -H "Authorization: Bearer $user" \
    -H 'Content-Type: application/json' -d '{"score":7}' \
    "$BASE/api/v1/comics/$comic/rating")
  status=$(printf '%s' "$header" | awk 'NR == 1 {print $2}')
  [ "$status" = 200 ] || die "the settling rating was answered $status"
  token=$(printf '%s' "$header" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-consistency-token" {print $2}')
  [ -n "$token" ] || die "the settling rating got no consistency token"
  wait_token "$BASE/api/v1/comics/$comic/stats" "$token" 120 \
    || die "the projections did not catch up within 2 minutes"
  SETTLE_SECONDS=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# seed_live: seeds $LIVE_COMICS comics (2 ratings and 2 views each) through
# the API for the live and cost modes; their ids in $IDS_FILE and IDS.
seed_live() {
  say "seeding $LIVE_COMICS comics (2 ratings and 2 views each)"
  "$BIN/comics-bench" seed --base "$BASE" --comics "$LIVE_COMICS" --ratings 2 --views 2 \
    --concurrency 16 >"$OUT/seed.txt"
  awk '$1 == "comic_id" {print $2}' "$OUT/seed.txt" >"$IDS_FILE"
  mapfile -t IDS <"$IDS_FILE"
  [ "${#IDS[@]}" -ge 3 ] || die "seeding produced ${#IDS[@]} comics"
  sleep 2 # let the views of the seed reach the popularity projection
  settle "${IDS[1]}"
}

# start_writer: `comics-bench writes` at $WRITE_RATE writes/s over $IDS_FILE
# in the background until stopped (WRITER_PID), its figures in
# $OUT/writes.txt; returns once it has started.
start_writer() {
  "$BIN/comics-bench" writes --base "$BASE" --rate "$WRITE_RATE" --comics "$IDS_FILE" \
    --users "$LIVE_USERS" --zipf "$ZIPF_S" --seconds 900 >"$OUT/writes.txt" 2>"$OUT/writes.log" &
  WRITER_PID=$!
  for i in $(seq 1 150); do
    grep -q '^writes: started' "$OUT/writes.log" && return 0
    kill -0 "$WRITER_PID" 2>/dev/null || { cat "$OUT/writes.log" >&2; die "the writer exited"; }
    sleep 0.2
  done
  die "the writer did not start within 30 s"
}

# wait_token URL TOKEN LIMIT: reads URL with the consistency token until it
# answers 200 (each read waits up to 5 s, 503 while the projections are
# behind); fails after LIMIT seconds.
wait_token() {
  local url=$1 token=$2 deadline=$((SECONDS + $3)) status
  while [ "$SECONDS" -lt "$deadline" ]; do
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Consistency-Token: $token" "$url")
    [ "$status" = 200 ] && return 0
    [ "$status" = 503 ] || sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- summary
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { # value op bound
  awk -v v="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (v == "" || v == "-") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= b + 0) : (v + 0 <= b + 0); print ok ? "PASS" : "MISS" }'
}
row() { printf '%-34s %14s %8s %14s %7s %-12s %s\n' "$@"; }
header_lines() {
  echo
  echo "comics benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(uname -m)), Postgres $(psql -d postgres -Atc 'show server_version' | cut -d' ' -f1)"
  echo "note: the load generators (wrk, pgbench, comics-bench) share these $(nproc) cores with the server,"
  echo "      Postgres and NATS, so every figure is a floor for the service alone."
  echo "      1-minute load average before the run: $LOAD_BEFORE (anything else running skews the figures)."
  echo
}
