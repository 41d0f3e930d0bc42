#!/usr/bin/env bash
# Every benchmark, one after another, each alone on the machine; logs to ${1:-bench-logs}/.
# PostgreSQL variants need the server on 127.0.0.1:5432 (trust auth); celery_compare needs
# the bench extra (pip install -e ".[bench]") and Debian's redis-server.
set -u
cd "$(dirname "$0")/.."
out=${1:-bench-logs}
mkdir -p "$out"
py=.venv/bin/python
pg=postgresql://postgres@127.0.0.1:5432
run() {
    name=$1
    shift
    echo "== $name: $*"
    timeout 1200 "$py" "$@" > "$out/$name.log" 2>&1
    echo "   exit $? (log: $out/$name.log)"
}
run throughput_sqlite bench/throughput.py
run throughput_pg2 bench/throughput.py --workers 2 --database-url "$pg/dochooks_bench_tp"
run latency_sqlite bench/latency.py
run latency_pg bench/latency.py --database-url "$pg/dochooks_bench_lat"
run fanout_sqlite bench/fanout.py
run backlog_sqlite bench/backlog.py
run backlog_pg bench/backlog.py --database-url "$pg/dochooks_bench_bl"
run isolation_sqlite bench/isolation.py
run ingest_sqlite bench/ingest.py
run celery bench/celery_compare.py
