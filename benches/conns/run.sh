#!/usr/bin/env bash
# Many connections (issue #17): CONNS keep-alive connections held open, each
# asking `GET /` once a second, against `sansnet http` on each runtime in
# RUNTIMES and, when HYPER is set, the hyper peer of ../shared/peers. Every
# request must be answered; the table gives p50/p99/p99.9 latency and the
# server's resident memory (before, idle with every connection open, per
# connection, and at the end, after every connection has been answered).
#
#   SANSNET=target/release/sansnet benches/conns/run.sh
#
# Environment (all optional):
#   SANSNET   the sansnet binary (release); default target/release/sansnet
#   RUNTIMES  the runtimes measured (default "tokio smol async-std std")
#   HYPER     the hyper-hello binary of ../shared/peers (hyper + tokio)
#   LOADGEN   the loadgen; default: cargo build --release -p sansnet-benches
#   CONNS     connections (10000)   DURATION  seconds of requests (10)
#   INTERVAL  seconds between one connection's requests (1)
# Needs an open-file limit above CONNS for both processes (raised here up to
# the hard limit). Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

SANSNET=${SANSNET:-target/release/sansnet}
RUNTIMES=${RUNTIMES:-tokio smol async-std std}
CONNS=${CONNS:-10000}
DURATION=${DURATION:-10}
INTERVAL=${INTERVAL:-1}
. benches/common.sh
loadgen conns-loadgen
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -le $((CONNS + 100)) ]; then
    echo "the open-file limit ($(ulimit -n)) is too low for $CONNS connections" >&2
    exit 1
fi

# measure NAME PORT CMD...: starts CMD, waits (10 s at most) for PORT to
# listen, runs the loadgen against it and appends a table row.
measure() {
    local name=$1 port=$2
    shift 2
    launch server "$@"
    listens() { ss -Htln "sport = :$port" | grep -q .; }
    within_10s listens || echo "$name does not listen on $port" >&2
    "$LOADGEN" --addr "127.0.0.1:$port" --conns "$CONNS" --duration "$DURATION" \
        --interval "$INTERVAL" --pid "$pid" >"$tmp/out" || true
    head -n1 "$tmp/out" >&2
    printf '%-22s %9s %9s %7s %8s %8s %8s %9s %9s %7s %9s\n' "$name" \
        "$(field sent "$tmp/out")" "$(field answered "$tmp/out")" "$(field errors "$tmp/out")" \
        "$(field p50_ms "$tmp/out")" "$(field p99_ms "$tmp/out")" "$(field p999_ms "$tmp/out")" \
        "$(field rss_before_kib "$tmp/out")" "$(field rss_idle_kib "$tmp/out")" \
        "$(field kib_per_conn "$tmp/out")" "$(field rss_end_kib "$tmp/out")" >>"$tmp/table"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

port=18480
for rt in $RUNTIMES; do
    measure "sansnet $rt" $port "$SANSNET" --runtime "$rt" http --bind "127.0.0.1:$port" \
        --max-connections $((CONNS + 100))
    port=$((port + 1))
done
if [ -n "${HYPER:-}" ]; then
    measure "hyper + tokio" $port "$HYPER" "127.0.0.1:$port"
fi

echo
echo "$CONNS keep-alive connections, each GET / every ${INTERVAL} s for ${DURATION} s" \
    "($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
printf '%-22s %9s %9s %7s %8s %8s %8s %9s %9s %7s %9s\n' server sent answered failed \
    "p50 ms" "p99 ms" "p99.9 ms" "RSS0 KiB" "RSS KiB" "KiB/c" "RSS end"
cat "$tmp/table"
