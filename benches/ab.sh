#!/usr/bin/env bash
# A/B pairs: two HTTP servers up at once, measured in alternating rounds of
# one wrk command (each pair starts with the other server), so that a
# machine whose speed drifts from one minute to the next (the VM of the
# README's figures, see "Why one kit run can disagree with the next") slows
# both alike. Prints each pair's req/s and ratio (B over A) and the median
# ratio. Loopback only; every round is bounded by wrk's duration.
#
#   benches/ab.sh 'target/release/sansnet http --runtime smol --bind 127.0.0.1:PORT' \
#       '/tmp/peers-target/hyper-hello/release/hyper-hello 127.0.0.1:PORT'
#   WRK='-t1 -c256 -d3s -s ../shared/peers/wrk/pipeline.lua URL -- 16' PAIRS=6 benches/ab.sh A B
#
# Environment: WRK, wrk's arguments, URL standing for the server's address
# (default: -t1 -c64 -d3s URL); PAIRS (4); PORT_A, PORT_B (18201, 18202):
# PORT in each command is replaced by its port.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,16p' "$0"; exit 2; }
WRK=${WRK:--t1 -c64 -d3s URL}
PAIRS=${PAIRS:-4}
PORT_A=${PORT_A:-18201}
PORT_B=${PORT_B:-18202}
. benches/common.sh

launch a ${1//PORT/$PORT_A}
pid_a=$pid
launch b ${2//PORT/$PORT_B}
pid_b=$pid
trap 'kill $pid_a $pid_b 2>/dev/null || true; rm -rf "$tmp"' EXIT
listening() { ss -ltnH "sport = :$1" | grep -q .; }
within_10s listening "$PORT_A" || { echo "ab.sh: A does not listen on $PORT_A" >&2; exit 1; }
within_10s listening "$PORT_B" || { echo "ab.sh: B does not listen on $PORT_B" >&2; exit 1; }

# rate PORT: wrk's requests a second against 127.0.0.1:PORT.
rate() {
    # shellcheck disable=SC2086 # WRK is a list of arguments
    wrk ${WRK//URL/http://127.0.0.1:$1/} | awk '/Requests\/sec/ {print $2}'
}

ratios=()
for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) -eq 1 ]; then
        a=$(rate "$PORT_A"); b=$(rate "$PORT_B")
    else
        b=$(rate "$PORT_B"); a=$(rate "$PORT_A")
    fi
    r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
    ratios+=("$r")
    echo "pair $i: A $a req/s, B $b req/s, B/A $r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {print "median B/A " v[int((NR + 1) / 2)] " over " NR " pairs"}'
