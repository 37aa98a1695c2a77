# The catalog mode of bench/run.sh (`bench/run.sh catalog`), sourced once
# lib.sh's start_server has the server up: a catalog at scale (issue 9). In
# one run, against baselines of the same run:
#   1. seeding: BENCH_CATALOG_COMICS comics created through the API by
#      parallel clients (comics-bench seed-catalog), until the catalog
#      projection shows the last write;
#   2. detail reads of ids drawn from a Zipf distribution (s = 1) over the
#      whole catalog, vs the ceiling of the same body size;
#   3. title searches, a random term each (words of the titles in Latin,
#      Hangul, kana/kanji and Hanzi, prefixes, "comic <n>"), URL-encoded;
#      then, as evidence and not a target, searches one at a time past the
#      cache, timed by the script of the term, with the slowest terms;
#   4. filtered and sorted pages (two genres, each sort) at offset 0, at
#      offset BENCH_CATALOG_DEPTH and by a cursor walked that deep: cached
#      (one URL) and from the store (X-Consistency-Token of an old write,
#      which bypasses the cache);
#   5. the server's resident memory after the reads, vs right after start.
# Knobs (environment), besides lib.sh's: BENCH_CATALOG_COMICS (100000),
# BENCH_SEED_CONCURRENCY (64), BENCH_CATALOG_DEPTH (5000),
# BENCH_CATALOG_GENRES (action,fantasy), BENCH_PAGE_SECONDS (3, per page
# figure), BENCH_SEARCH_CONNECTIONS (16), BENCH_STORE_CONNECTIONS (4).

CATALOG_COMICS=${BENCH_CATALOG_COMICS:-100000}
SEED_CONNS=${BENCH_SEED_CONCURRENCY:-64}
DEPTH=${BENCH_CATALOG_DEPTH:-5000}
GENRES=${BENCH_CATALOG_GENRES:-action,fantasy}
PAGE_SECONDS=${BENCH_PAGE_SECONDS:-3}
SEARCH_CONNS=${BENCH_SEARCH_CONNECTIONS:-16}
STORE_CONNS=${BENCH_STORE_CONNECTIONS:-4}
SORTS=(created_at title rating popularity)
IDS_FILE="$OUT/comics.txt"
TERMS_FILE="$OUT/terms.txt"
WRK_ERRORS=""

rss_mb() { # the server's VmRSS (or another field of its status) in MB
  awk -v k="${1:-VmRSS}:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"
}
load_now() { cut -d' ' -f1 /proc/loadavg; }
elapsed_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# wrk_check NAME: notes non-2xx answers and socket errors (timeouts
# included) of the wrk run NAME in WRK_ERRORS.
wrk_check() {
  local bad=$1_BAD sock
  sock=$(awk '/Socket errors:/ { for (i = 3; i <= NF; i++) n += $i + 0 } END { print n + 0 }' "$OUT/wrk-$1.txt")
  if [ "${!bad:-0}" != 0 ] || [ "$sock" != 0 ]; then
    WRK_ERRORS+=" $1: ${!bad:-0} non-2xx, $sock socket errors;"
  fi
}

# pages SORT: the first, the deep and the cursor page of the genre filter
# sorted by SORT, each cached and from the store; sets P_<SORT>_<PAGE>_HOT_*
# and _DB_*, TOTAL_<SORT>, DEEP_<SORT> (the offset) and WALK_<SORT> (rows
# the cursor is past).
pages() {
  local sort=$1 key=${1^^} path="/api/v1/comics?genre=$GENRES&sort=$1" total deep cursor page url
  say "walking $path by cursor ($DEPTH rows deep, 100 a page)"
  "$BIN/comics-bench" walk --base "$BASE" --path "$path" --depth "$DEPTH" | tee "$OUT/walk-$sort.txt" >&2
  cursor=$(val "walk-$sort" walk_cursor)
  total=$(val "walk-$sort" walk_total)
  # The deep offset: DEPTH, or the last page's if the list is shorter.
  deep=$((total - 20 < DEPTH ? total - 20 : DEPTH))
  [ "$deep" -ge 0 ] || deep=0
  printf -v "TOTAL_$key" '%s' "$total"
  printf -v "DEEP_$key" '%s' "$deep"
  printf -v "WALK_$key" '%s' "$(val "walk-$sort" walk_rows)"
  for page in first deep cursor; do
    case $page in
      first) url="$BASE$path&limit=20&offset=0" ;;
      deep) url="$BASE$path&limit=20&offset=$deep" ;;
      cursor) url="$BASE$path&limit=20${cursor:+&after=$cursor}" ;;
    esac
    run_wrk "P_${key}_${page^^}_HOT" "$url" -d"${PAGE_SECONDS}s"
    wrk_check "P_${key}_${page^^}_HOT"
    run_wrk "P_${key}_${page^^}_DB" "$url" -d"${PAGE_SECONDS}s" -c"$STORE_CONNS" --timeout 60s \
      -H "X-Consistency-Token: $CATALOG_TOKEN"
    wrk_check "P_${key}_${page^^}_DB"
  done
}

# ---------------------------------------------------------------- the run
RSS_START=$(rss_mb)
say "1. seeding $CATALOG_COMICS comics through the API ($SEED_CONNS in flight)"
bench seed-catalog --base "$BASE" --comics "$CATALOG_COMICS" --concurrency "$SEED_CONNS" \
  --ids "$IDS_FILE" --terms "$TERMS_FILE"
CATALOG_TOKEN=$(val seed-catalog catalog_token)
[ -n "$CATALOG_TOKEN" ] || die "seed-catalog gave no consistency token"
RSS_SEEDED=$(rss_mb)
LOAD_SEEDED=$(load_now)
say "settling: VACUUM (ANALYZE) of $DB, then 5 s"
VACUUM_START=$(date +%s.%N)
psql -d "$DB" -qc "VACUUM (ANALYZE)"
VACUUMED=$(elapsed_since "$VACUUM_START")
sleep 5
LOAD_READS=$(load_now)

say "2. detail reads, Zipf (s = 1) over $(wc -l <"$IDS_FILE") comics, and their ceiling"
DETAIL_URL="$BASE/api/v1/comics/$(head -1 "$IDS_FILE")"
[ "$(status_of "$DETAIL_URL")" = 200 ] || die "GET $DETAIL_URL answers $(status_of "$DETAIL_URL")"
DETAIL_SIZE=$(size_of "$DETAIL_URL")
ceiling DETAIL "$DETAIL_SIZE"
say "warming the read cache (2 s of Zipf detail reads, not measured)"
wrk -t2 -c64 -d2s -s bench/zipf.lua "$BASE" -- "$IDS_FILE" 1 detail >"$OUT/warm-detail.txt" || true
run_wrk ZIPF "$BASE" -s bench/zipf.lua -- "$IDS_FILE" 1 detail
wrk_check ZIPF

say "3. title searches, random terms of $TERMS_FILE"
run_wrk SEARCH "$BASE" -c"$SEARCH_CONNS" --timeout 10s -s bench/search.lua -- "$TERMS_FILE"
wrk_check SEARCH
SEARCH_CACHE=$(awk '$1 == "x_cache" { print "hit " $3 ", miss " $5 ", stale " $7 }' "$OUT/wrk-SEARCH.txt")
say "searches one at a time from the store, by script of the term (not a target)"
"$BIN/comics-bench" probe-search --base "$BASE" --terms "$TERMS_FILE" --token "$CATALOG_TOKEN" \
  --count 100 --seconds 20 | tee "$OUT/probe-search.txt" >&2

say "4. pages of genre=$GENRES, each sort: offset 0, offset $DEPTH and by cursor"
for sort in "${SORTS[@]}"; do
  pages "$sort"
done

RSS_END=$(rss_mb)
RSS_PEAK=$(rss_mb VmHWM)

# ---------------------------------------------------------------- summary
s() { val seed-catalog "$1"; }
crow() { printf '%-40s %12s %9s %17s %7s %-19s %s\n' "$@"; }
pass_all() { # VERDICT…: PASS if every one is
  local v
  for v in "$@"; do [ "$v" = PASS ] || { echo MISS; return; }; done
  echo PASS
}
probe_line() { # the probe's p50/max per kind of term
  local kind
  for kind in latin hangul kana han number; do
    printf '%s %s: %s/%sms; ' "$kind" "$(val probe-search "probe_${kind}_n")" \
      "$(val probe-search "probe_${kind}_p50_ms")" "$(val probe-search "probe_${kind}_max_ms")"
  done
}
page_rows() { # SORT
  local key=${1^^} page label hot hp db dp total=TOTAL_${1^^} deep=DEEP_${1^^} walk=WALK_${1^^}
  for page in FIRST DEEP CURSOR; do
    case $page in
      FIRST) label="offset 0" ;;
      DEEP) label="offset ${!deep}" ;;
      CURSOR) label="after ${!walk} rows" ;;
    esac
    hot=P_${key}_${page}_HOT_RPS hp=P_${key}_${page}_HOT_P99
    db=P_${key}_${page}_DB_RPS dp=P_${key}_${page}_DB_P99
    crow "sort=$1 $label, cached" "${!hot}/s" "${!hp}ms" "" "" "p99 <= 50ms" "$(verdict "${!hp}" "<=" 50)"
    crow "sort=$1 $label, store" "${!db}/s" "${!dp}ms" "" "" "p99 <= 50ms" "$(verdict "${!dp}" "<=" 50)"
  done
}

{
  header_lines
  crow "measurement (catalog mode)" "measured" "p99" "baseline" "ratio" "target" "verdict"
  crow "----------------------------------------" "------------" "---------" "-----------------" "-------" "-------------------" "-------"
  crow "seed $(s catalog_comics) comics via the API" "$(s catalog_per_sec)/s" "" "" "" "(reported)" ""
  r=$(ratio "$ZIPF_RPS" "$CEIL_DETAIL_RPS")
  crow "GET /comics/{id}, Zipf s=1" "$ZIPF_RPS/s" "${ZIPF_P99}ms" "ceiling $CEIL_DETAIL_RPS/s" "${r}x" ">= 0.5x, p99 <= 10ms" \
    "$(pass_all "$(verdict "$r" ">=" 0.5)" "$(verdict "$ZIPF_P99" "<=" 10)")"
  crow "GET /comics?q=<random term>" "$SEARCH_RPS/s" "${SEARCH_P99}ms" "" "" ">= 1000/s, p99 <= 50ms" \
    "$(pass_all "$(verdict "$SEARCH_RPS" ">=" 1000)" "$(verdict "$SEARCH_P99" "<=" 50)")"
  for sort in "${SORTS[@]}"; do page_rows "$sort"; done
  r=$(ratio "$RSS_END" "$RSS_START")
  crow "server RSS after the reads" "${RSS_END} MB" "" "at start ${RSS_START} MB" "${r}x" "<= 300 MB" "$(verdict "$RSS_END" "<=" 300)"
  echo
  echo "seeding: comics-bench seed-catalog --comics $CATALOG_COMICS --concurrency $SEED_CONNS: every comic a POST"
  echo "  /api/v1/comics (titles in kana/kanji, Hangul, Hanzi or Latin words by type, a Latin alternative"
  echo "  title, every 4th also \"Comic <n>\", 1-4 of 20 genres, spread statuses and types); every 10th also"
  echo "  rated and viewed ($(s catalog_ratings) ratings, $(s catalog_views) views). All answered in $(s catalog_api_seconds)s;"
  echo "  the catalog showed the last write (read with its token) after $(s catalog_seconds)s in all."
  echo "  Then VACUUM (ANALYZE) (${VACUUMED}s) and 5 s. 1-minute load average after the seeding $LOAD_SEEDED,"
  echo "  before the reads $LOAD_READS."
  echo "detail: wrk -t2 -c64 -d${SECONDS_EACH}s -s bench/zipf.lua over all $(s catalog_comics) ids, after 2 s of warming;"
  echo "  ceiling = comics-bench ceiling with a ${DETAIL_SIZE}-byte body, same wrk (p99 ${CEIL_DETAIL_P99}ms)."
  echo "search: wrk -t2 -c$SEARCH_CONNS -d${SECONDS_EACH}s -s bench/search.lua, $(wc -l <"$TERMS_FILE") random terms"
  echo "  (X-Cache of the answers: ${SEARCH_CACHE:-not counted})."
  echo "  One at a time from the store (comics-bench probe-search, X-Consistency-Token), p50/max by term:"
  echo "  $(probe_line)"
  echo "  slowest: $(awk '$1 == "probe_slow" { $1 = ""; printf "%s;", $0 }' "$OUT/probe-search.txt") (ms, total, term)"
  echo "pages: genre=$GENRES&limit=20 (totals: created_at $TOTAL_CREATED_AT, title $TOTAL_TITLE, rating $TOTAL_RATING,"
  echo "  popularity $TOTAL_POPULARITY); cursor = after=<next> of a walk by pages of 100 (comics-bench walk);"
  echo "  cached = wrk -t2 -c64 -d${PAGE_SECONDS}s on the URL; store = wrk -t2 -c$STORE_CONNS -d${PAGE_SECONDS}s with the"
  echo "  X-Consistency-Token of the seeding's last comic (long applied): the cache is bypassed, Postgres answers."
  echo "memory: VmRSS at start $RSS_START MB, after the seeding $RSS_SEEDED MB, after the reads $RSS_END MB (peak $RSS_PEAK MB)."
  echo "errors:${WRK_ERRORS:- none in any wrk run.}"
  echo "server log: $(grep -c -E 'WARN|ERROR' "$OUT/server.log" || true) warnings or errors (see $OUT/server.log)."
} | tee "$OUT/summary.txt"
