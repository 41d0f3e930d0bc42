#!/usr/bin/env bash
# Every benchmark, one after another, each alone on the machine; logs to DIR (default bench-logs/).
#
#   bench/run_all.sh [--quick] [DIR [NAME...]]
#
# It exits 1 if any benchmark exited non-zero: a target missed, a check failed, a crash, or
# the 20-minute limit (exit 124); the summary at the end gives each run's exit and verdict.
# --quick runs each at a small size, in minutes: to see that the benchmarks and this script
# work, not to measure (small runs are noisy, and may miss a target). NAMEs pick runs
# (e.g. latency_sqlite fanout_sqlite); all by default.
# PostgreSQL variants need the server on 127.0.0.1:5432 (trust auth); celery_compare needs
# the bench extra (pip install -e ".[bench]") and Debian's redis-server.
set -u
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi
out=${1:-bench-logs}
[ $# -gt 0 ] && shift
only=("$@")
mkdir -p "$out"
py=.venv/bin/python
pg=postgresql://postgres@127.0.0.1:5432
summary=()
failed=()

# run NAME QUICK_ARGS SCRIPT [ARGS...]: QUICK_ARGS are added with --quick.
run() {
    local name=$1 small
    read -r -a small <<< "$2"
    shift 2
    if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then
        return
    fi
    local args=("$@")
    [ $quick = 1 ] && args+=("${small[@]}")
    echo "== $name: ${args[*]}"
    timeout 1200 "$py" "${args[@]}" > "$out/$name.log" 2>&1
    local status=$?
    local verdict
    verdict=$(grep -E '^(PASS|FAIL):' "$out/$name.log" | tail -n 1)
    if [ $status = 124 ]; then
        verdict="timed out after 1200 s"
    elif [ -z "$verdict" ]; then
        verdict="no verdict: it stopped before judging (see the log)"
    fi
    echo "   exit $status: $verdict (log: $out/$name.log)"
    summary+=("$(printf '%-18s exit %-3s %s' "$name" "$status" "$verdict")")
    [ $status = 0 ] || failed+=("$name")
}

run throughput_sqlite "--deliveries 5000" bench/throughput.py
run throughput_pg2 "--deliveries 5000" bench/throughput.py --workers 2 --database-url "$pg/dochooks_bench_tp"
run latency_sqlite "--seconds 3" bench/latency.py
run latency_pg "--seconds 3" bench/latency.py --database-url "$pg/dochooks_bench_lat"
run fanout_sqlite "--webhooks 200 --events 3" bench/fanout.py
run backlog_sqlite "--backlog 50000 --measure 5000" bench/backlog.py
run backlog_pg "--backlog 50000 --measure 5000" bench/backlog.py --database-url "$pg/dochooks_bench_bl"
run isolation_sqlite "--per-webhook 100" bench/isolation.py
run isolation_pg "--per-webhook 100" bench/isolation.py --database-url "$pg/dochooks_bench_iso"
run ingest_sqlite "--uploads 200 --events 1000" bench/ingest.py
run flow_sqlite "--documents 100" bench/flow.py
run flow_pg "--documents 100" bench/flow.py --database-url "$pg/dochooks_bench_flow"
run flow5_sqlite "--documents 60" bench/flow.py --webhooks 5
run flow5_pg "--documents 60" bench/flow.py --webhooks 5 --database-url "$pg/dochooks_bench_flow5"
run flowseq_sqlite "--documents 20" bench/flow.py --sequential
run flowseq_pg "--documents 20" bench/flow.py --sequential --database-url "$pg/dochooks_bench_flowseq"
run celery "--deliveries 2000" bench/celery_compare.py
run prune_sqlite "--settled 40000 --deliveries 4000" bench/prune.py --time-limit 1150
run prune_pg "--settled 40000 --deliveries 4000" bench/prune.py --time-limit 1150 --database-url "$pg/dochooks_bench_prune"
run feed_sqlite "--events 20000" bench/feed.py
run feed_pg "--events 20000" bench/feed.py --database-url "$pg/dochooks_bench_feed"

if [ ${#summary[@]} = 0 ]; then
    echo "no benchmark ran: no run is named ${only[*]}"
    exit 2
fi
echo
if [ $quick = 1 ]; then
    echo "== summary (--quick: small runs, not measurements)"
else
    echo "== summary"
fi
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${#failed[@]} of ${#summary[@]}: ${failed[*]}"
    exit 1
fi
echo "PASSED: all ${#summary[@]}"
