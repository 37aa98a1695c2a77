# The pages mode of bench/run.sh (sourced after the server started): page
# bytes read against the ceiling with a body of the same size, upload
# throughput of 1 MiB pages against dd conv=fsync of the same bytes to the
# same disk, and the server's RSS growth during 8 concurrent 20 MiB uploads.
# Knobs: BENCH_PAGE_UPLOADS (64 pages of 1 MiB), BENCH_PAGE_CONCURRENCY (4).

UPLOADS=${BENCH_PAGE_UPLOADS:-64}
UPLOAD_CONC=${BENCH_PAGE_CONCURRENCY:-4}

bench pages --base "$BASE" --pid "$SERVER_PID" --uploads "$UPLOADS" --concurrency "$UPLOAD_CONC"
READ_URL=$(val pages read_url)
READ_SIZE=$(val pages read_bytes)
UP_MBS=$(val pages upload_mb_per_sec); UP_P99=$(val pages upload_p99_ms)
RSS_GROWTH=$(val pages rss_growth_mb); BIG_MBS=$(val pages big_mb_per_sec)

# The same bytes (UPLOADS MiB) written to the disk the images go to, flushed
# once at the end (the best case for the disk); and one 1 MiB file at a time,
# each flushed, as each upload must be before its event is appended.
say "dd: $UPLOADS MiB to $STORAGE_DIR, conv=fsync"
head -c $((UPLOADS * 1048576)) /dev/urandom >"$OUT/dd-source"
DD_START=$(date +%s.%N)
dd if="$OUT/dd-source" of="$STORAGE_DIR/dd-probe" bs=1M conv=fsync status=none
DD_END=$(date +%s.%N)
DD_MBS=$(awk -v a="$DD_START" -v b="$DD_END" -v n="$UPLOADS" 'BEGIN { printf "%.1f", n * 1.048576 / (b - a) }')
DD_START=$(date +%s.%N)
for i in $(seq 1 "$UPLOADS"); do
  dd if="$OUT/dd-source" of="$STORAGE_DIR/dd-probe-$i" bs=1M count=1 skip=$((i - 1)) conv=fsync status=none
done
DD_END=$(date +%s.%N)
DD_EACH_MBS=$(awk -v a="$DD_START" -v b="$DD_END" -v n="$UPLOADS" 'BEGIN { printf "%.1f", n * 1.048576 / (b - a) }')
rm -f "$OUT/dd-source" "$STORAGE_DIR"/dd-probe*

ceiling READ "$READ_SIZE"
run_wrk READ "$READ_URL"
[ "${READ_BAD:-0}" = 0 ] || die "page reads answered $READ_BAD non-2xx responses"

{
  header_lines
  row "measurement" "measured" "p99" "baseline" "ratio" "target" "verdict"
  row "----------------------------------" "--------------" "--------" "--------------" "-------" "------------" "-------"
  r=$(ratio "$READ_RPS" "$CEIL_READ_RPS")
  row "GET page bytes (${READ_SIZE} B)" "$READ_RPS/s" "${READ_P99}ms" "$CEIL_READ_RPS/s" "${r}x" ">= 0.5x" "$(verdict "$r" ">=" 0.5)"
  r=$(ratio "$UP_MBS" "$DD_MBS")
  row "PUT 1 MiB pages ($UPLOAD_CONC at once)" "$UP_MBS MB/s" "${UP_P99}ms" "$DD_MBS MB/s" "${r}x" ">= 0.3x" "$(verdict "$r" ">=" 0.3)"
  r=$(ratio "$UP_MBS" "$DD_EACH_MBS")
  row "  vs dd of 1 MiB files, each fsync" "$UP_MBS MB/s" "" "$DD_EACH_MBS MB/s" "${r}x" "" ""
  row "RSS growth, 8 x 20 MiB at once" "$RSS_GROWTH MB" "" "" "" "<= 64 MB" "$(verdict "$RSS_GROWTH" "<=" 64)"
  echo
  echo "baselines: ceiling = comics-bench ceiling (axum, a fixed ${READ_SIZE}-byte body), same wrk -t2 -c64 -d${SECONDS_EACH}s,"
  echo "  p99 ${CEIL_READ_P99}ms; the page is read by GET /chapters/{id}/pages/1 from the local image folder."
  echo "  dd = dd bs=1M conv=fsync of $UPLOADS MiB of random bytes into the image folder's disk, once as one"
  echo "  file (one fsync) and once as $UPLOADS files of 1 MiB (one fsync each)."
  echo "uploads: $UPLOADS distinct 1 MiB pages by PUT /chapters/{id}/pages/{n}, $UPLOAD_CONC in flight (each stored,"
  echo "  flushed and its event appended before the answer); the 8 concurrent 20 MiB uploads ran at $BIG_MBS MB/s."
  echo "RSS: VmRSS of comics serve sampled every 5 ms, peak minus before ($(val pages rss_before_kb) kB before)."
} | tee "$OUT/summary.txt"
