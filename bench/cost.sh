# The cost mode of bench/run.sh (`bench/run.sh cost`), sourced once lib.sh's
# start_server has the server up: what a live write costs the machine. In
# one run:
#   1. idle: the CPU the server, the Postgres cluster and NATS use over
#      BENCH_COST_SECONDS with no load at all (background work: workers
#      polling, the sealer, the view recorder, upkeep);
#   2. paced writes: BENCH_WRITE_RATE writes/s (half ratings by
#      BENCH_LIVE_USERS users, half views by new readers, Zipf comics) for the
#      same time, no reads: CPU milliseconds per write by process, and where
#      the server's own CPU goes (`perf`, when it is installed);
#   3. rating commands spread over the comics and users (bench/spread.lua),
#      against the pgbench single-row INSERT.
# Knobs (environment), besides lib.sh's: BENCH_LIVE_COMICS (1000),
# BENCH_LIVE_USERS (5000), BENCH_WRITE_RATE (250), BENCH_COST_SECONDS (20),
# BENCH_ZIPF_S (1).

LIVE_COMICS=${BENCH_LIVE_COMICS:-1000}
LIVE_USERS=${BENCH_LIVE_USERS:-5000}
WRITE_RATE=${BENCH_WRITE_RATE:-250}
COST_SECONDS=${BENCH_COST_SECONDS:-20}
ZIPF_S=${BENCH_ZIPF_S:-1}
IDS_FILE="$OUT/comics.txt"
WRK_ERRORS=""

# ticks PID…: the user + system clock ticks these processes have used.
ticks() {
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
# machine_ticks: busy ticks of the whole machine (all but idle and iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
postgres_pids() { pgrep -d ' ' -x postgres || true; }
nats_pids() { pgrep -d ' ' -x nats-server || true; }

# sample PHASE SECONDS [WRITES-FILE]: CPU of each process over SECONDS;
# sets <PHASE>_{SERVER,PG,NATS,MACHINE}_MS (CPU milliseconds). Postgres
# backends that start during the phase are counted from their start.
sample() {
  local phase=$1 secs=$2 hz s0 p0 n0 m0 pg_before pg_after pid
  hz=$(getconf CLK_TCK)
  pg_before=$(postgres_pids)
  declare -A start_of=()
  for pid in $pg_before; do start_of[$pid]=$(ticks "$pid"); done
  s0=$(ticks "$SERVER_PID"); n0=$(ticks $(nats_pids)); m0=$(machine_ticks)
  sleep "$secs"
  local s1 n1 m1 pg=0 now
  s1=$(ticks "$SERVER_PID"); n1=$(ticks $(nats_pids)); m1=$(machine_ticks)
  pg_after=$(postgres_pids)
  for pid in $pg_after; do
    now=$(ticks "$pid")
    pg=$((pg + now - ${start_of[$pid]:-0}))
  done
  ms() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.0f", t * 1000 / hz }'; }
  printf -v "${phase}_SERVER_MS" '%s' "$(ms $((s1 - s0)))"
  printf -v "${phase}_PG_MS" '%s' "$(ms "$pg")"
  printf -v "${phase}_NATS_MS" '%s' "$(ms $((n1 - n0)))"
  printf -v "${phase}_MACHINE_MS" '%s' "$(ms $((m1 - m0)))"
}

# per_write MS WRITES: CPU microseconds per write, net of the idle phase.
per_write() { # PHASE-MS IDLE-MS WRITES
  awk -v a="$1" -v i="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.0f", (a - i) * 1000 / n; else print "-" }'
}

# spread NAME: rating commands spread over the comics and users.
spread() {
  settle "${IDS[1]}"
  wrk_lua "$1" 64 -s bench/spread.lua "$BASE" -- "$OUT/tokens.txt" "$IDS_FILE" 2 rate
}

# ---------------------------------------------------------------- the run
seed_live

say "1. idle for ${COST_SECONDS}s"
sample IDLE "$COST_SECONDS"

say "2. $WRITE_RATE paced writes/s for ${COST_SECONDS}s, no reads"
start_writer
sleep 3 # the writes reach every worker
# Where Postgres's time goes, when pg_stat_statements is loaded
# (shared_preload_libraries): reset now, read after the phase.
STATEMENTS=""
if psql -d postgres -Atc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" \
  >/dev/null 2>&1; then
  STATEMENTS=yes
fi
PERF=""
if command -v perf >/dev/null; then
  perf record -F 499 -g -p "$SERVER_PID" -o "$OUT/perf-writes.data" -- sleep "$COST_SECONDS" \
    >"$OUT/perf-record.log" 2>&1 &
  PERF=$!
fi
sample WRITES "$COST_SECONDS"
[ -n "$PERF" ] && wait "$PERF" 2>/dev/null
if [ -n "$STATEMENTS" ]; then
  psql -d postgres -c "SELECT round(total_exec_time::numeric, 0) AS total_ms, calls,
      round((total_exec_time / calls)::numeric, 3) AS mean_ms, rows,
      left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$DB')
    ORDER BY total_exec_time DESC LIMIT 25" >"$OUT/pg-statements.txt" 2>&1 || true
fi
stop_pid "$WRITER_PID"
WRITER_PID=""
cat "$OUT/writes.txt" >&2
WRITES_PER_SEC=$(awk '$1 == "writes_per_sec" {print $2}' "$OUT/writes.txt")
WRITES_N=$(awk -v r="$WRITES_PER_SEC" -v s="$COST_SECONDS" 'BEGIN { printf "%.0f", r * s }')
if [ -n "$PERF" ]; then
  perf report -i "$OUT/perf-writes.data" --no-children --sort dso --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -15 >"$OUT/perf-dso.txt" || true
  perf report -i "$OUT/perf-writes.data" --no-children --sort sym --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -40 >"$OUT/perf-sym.txt" || true
fi

say "3. spread rating commands"
pg_scratch
pg_run insert insert "single-row INSERT transactions"
INSERT_TPS=$PG_TPS
psql -d postgres -qc "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)"
"$BIN/comics-bench" tokens --count "$LIVE_USERS" --out "$OUT/tokens.txt" >&2
spread SPREAD
EVENTS=$(psql -d "$DB" -Atc "SELECT count(*) FROM events")
spread WITH_B
rm -f "$OUT/tokens.txt"

# ---------------------------------------------------------------- summary
crow() { printf '%-44s %12s %12s %12s %s\n' "$@"; }
cost_row() { # LABEL KEY
  local w=WRITES_$2_MS i=IDLE_$2_MS
  crow "$1" "${!i} ms" "${!w} ms" "$(per_write "${!w}" "${!i}" "$WRITES_N") us" ""
}
{
  header_lines
  echo "CPU over ${COST_SECONDS}s, idle and under $WRITES_PER_SEC writes/s (about $WRITES_N writes):"
  crow "process" "idle" "writes" "per write" ""
  crow "--------------------------------------------" "------------" "------------" "------------" ""
  cost_row "comics serve" SERVER
  cost_row "Postgres (the whole cluster)" PG
  cost_row "nats-server" NATS
  cost_row "the machine (load generator included)" MACHINE
  echo
  echo "spread rating commands (wrk -c64, bench/spread.lua, ${#IDS[@]} comics x $LIVE_USERS users):"
  crow "PUT rating, spread" "$SPREAD_RPS/s" "p99 ${SPREAD_P99}ms" "$(ratio "$SPREAD_RPS" "$INSERT_TPS")x INSERT" ""
  echo "  INSERT $INSERT_TPS tx/s (pgbench -c16 -j2)."
  echo "  events in the log at the end: $EVENTS."
  if [ -s "$OUT/pg-statements.txt" ]; then
    echo
    echo "where Postgres's time went under the paced writes (pg_stat_statements, top 12):"
    head -14 "$OUT/pg-statements.txt"
  fi
  if [ -s "$OUT/perf-dso.txt" ]; then
    echo
    echo "where the server's CPU went under the paced writes (perf, by object; by symbol in $OUT/perf-sym.txt):"
    head -8 "$OUT/perf-dso.txt"
  fi
  echo "errors:${WRK_ERRORS:- none in any wrk run.}"
} | tee "$OUT/summary.txt"
