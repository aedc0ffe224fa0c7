#!/usr/bin/env bash
# Load benchmark of `sansnet http` on each runtime over loopback.
#
#   cargo build --release -p sansnet
#   benches/load.sh                       # every runtime, -c64 and -c256, 5 s each
#   RUNTIMES=smol DUR=2 benches/load.sh   # a quick look
#
# Prints a markdown table: requests/s (wrk's Requests/sec) and the server's
# peak RSS (VmHWM). Traffic goes to 127.0.0.1 only; every run is bounded by
# wrk's -d and a `timeout`. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SANSNET:-target/release/sansnet}
RUNTIMES=${RUNTIMES:-std async-std smol tokio}
CONNS=${CONNS:-64 256}
DUR=${DUR:-5}
PORT=${PORT:-18381}
command -v wrk >/dev/null || { echo "load.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "load.sh: $BIN missing (cargo build --release -p sansnet)" >&2; exit 1; }

echo "| runtime | connections | requests/s | peak RSS (KiB) | wrk errors |"
echo "|---|---|---|---|---|"
for rt in $RUNTIMES; do
    for c in $CONNS; do
        out=$(mktemp)
        "$BIN" --runtime "$rt" http --bind "127.0.0.1:$PORT" >"$out" 2>/dev/null &
        pid=$!
        for _ in $(seq 100); do grep -q '^listening on' "$out" && break; sleep 0.05; done
        res=$(timeout $((DUR + 10)) wrk -t1 -c"$c" -d"${DUR}s" "http://127.0.0.1:$PORT/" || true)
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
        errs=$(awk '/Socket errors/ {print $0}' <<<"$res" | sed 's/^ *Socket errors: //')
        rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$out"
        echo "| $rt | $c | ${rps:-?} | $rss | ${errs:-0} |"
    done
done
