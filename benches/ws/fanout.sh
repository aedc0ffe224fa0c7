#!/usr/bin/env bash
# WebSocket fan-out of a chat room, 1 sender -> 100 receivers on loopback:
# the Node.js peer (benches/ws/server.js, the `ws` package) against
# `sansnet chat serve --web` (PROTOCOLS.md §7), both driven by ws-loadgen
# (benches/ws/loadgen.rs). Each round is an unpaced run (deliveries/s, the
# servers' and the loadgen's CPU) and a paced one (latency p50/p99); the
# table gives the median of the rounds.
#
#   SANSNET=target/release/sansnet RT=tokio benches/ws/fanout.sh
#
# Environment (all optional):
#   SANSNET    the sansnet binary (release); without it only Node runs
#   RT         its --runtime (std, async-std, smol, tokio; default tokio)
#   LOADGEN    the loadgen; default: cargo build --release -p sansnet-benches
#   RECEIVERS  receivers (100)       MESSAGES  unpaced messages (10000)
#   RATE       paced msg/s (1000)    PACED     paced messages (2000)
#   ROUNDS     rounds (3)
# Needs node and `npm ci --prefix benches/ws`. Loopback only; every run
# is bounded (ws-loadgen --timeout 60).
set -euo pipefail
cd "$(dirname "$0")/../.."

RT=${RT:-tokio}
RECEIVERS=${RECEIVERS:-100}
MESSAGES=${MESSAGES:-10000}
RATE=${RATE:-1000}
PACED=${PACED:-2000}
ROUNDS=${ROUNDS:-3}
. benches/common.sh
loadgen ws-loadgen
[ -d benches/ws/node_modules/ws ] || npm ci --prefix benches/ws --silent --no-audit --no-fund

# start NAME LINE CMD...: runs CMD, waits (10 s at most) for its LINE-th
# stdout line `listening on ADDR`; sets pid and addr.
start() {
    local name=$1 line=$2
    shift 2
    launch "$name" "$@"
    listening() {
        addr=$(sed -n "${line}s/^listening on //p" "$tmp/$name.out")
        [ -n "$addr" ]
    }
    within_10s listening && return 0
    echo "$name did not start:" >&2
    cat "$tmp/$name.err" >&2
    exit 1
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bench NAME: ROUNDS rounds against the server at $addr (process $pid);
# appends one table row to $tmp/table.
bench() {
    local name=$1 r
    : >"$tmp/rows"
    for r in $(seq "$ROUNDS"); do
        local t0 c0 t1 c1
        t0=$(date +%s.%N)
        c0=$(ticks "$pid")
        "$LOADGEN" --addr "$addr" --receivers "$RECEIVERS" --messages "$MESSAGES" \
            --timeout 60 --tag "r$r-" >"$tmp/unpaced"
        c1=$(ticks "$pid")
        t1=$(date +%s.%N)
        "$LOADGEN" --addr "$addr" --receivers "$RECEIVERS" --messages "$PACED" \
            --rate "$RATE" --timeout 60 --tag "p$r-" >"$tmp/paced"
        head -qn1 "$tmp/unpaced" "$tmp/paced" >&2
        echo "$(field deliveries_per_s "$tmp/unpaced") $(field complete "$tmp/unpaced")" \
            "$(awk -v c="$((c1 - c0))" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", c / (b - a) }')" \
            "$(field cpu_pct "$tmp/unpaced") $(field p50_ms "$tmp/paced") $(field p99_ms "$tmp/paced")" \
            >>"$tmp/rows"
    done
    local col
    printf '%-26s' "$name" >>"$tmp/table"
    for col in 1 2 3 4 5 6; do
        printf ' %12s' "$(awk -v c=$col '{ print $c }' "$tmp/rows" | median)" >>"$tmp/table"
    done
    echo >>"$tmp/table"
}

ws_version=$(node -p "require('./benches/ws/node_modules/ws/package.json').version")
start node 1 node benches/ws/server.js --port 0
bench "node $(node --version) ws $ws_version"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

if [ -n "${SANSNET:-}" ]; then
    start sansnet 2 "$SANSNET" --runtime "$RT" chat serve --bind 127.0.0.1:0 --web 127.0.0.1:0
    bench "sansnet --runtime $RT"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
else
    echo "SANSNET not set: sansnet not measured" >&2
fi

echo
echo "WebSocket fan-out: 1 sender -> $RECEIVERS receivers; $MESSAGES messages unpaced," \
    "$PACED at $RATE msg/s for latency; median of $ROUNDS rounds ($(nproc) cores)"
printf '%-26s %12s %12s %12s %12s %12s %12s\n' server deliveries/s "complete" \
    "server cpu%" "loadgen cpu%" "p50 ms" "p99 ms"
cat "$tmp/table"
