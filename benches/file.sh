#!/usr/bin/env bash
# File-transfer benchmark: FILE_MB MiB from /dev/shm over loopback into
# /dev/shm, `sansnet file send` -> `sansnet file recv --once` on each
# runtime, with `socat -b 131072 -u` (no hash) in the same rounds.
#
#   cargo build --release -p sansnet
#   benches/file.sh                          # 1 GiB, 5 rounds
#   ROUNDS=3 RUNTIMES=smol benches/file.sh   # a quick look
#   TLS=smol benches/file.sh                 # also over TLS: sansnet on smol
#                                            # and socat OPENSSL, same rounds
#
# Rounds interleave the programs, each round starting one program later,
# so a drift of the machine hits all of them alike: on a VM
# the first touch of freshly allocated /dev/shm pages dominates the
# receiver's time and varies from one minute to the next. Each transfer
# is timed from the sender's start until the receiver exits (as
# ../shared/peers/run_all.sh times socat); every copy is compared with
# `cmp`. Prints the rounds and a markdown table of medians in GB/s.
# Traffic goes to 127.0.0.1 only; every process is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SANSNET:-target/release/sansnet}
RUNTIMES=${RUNTIMES:-std async-std smol tokio}
TLS=${TLS:-}
ROUNDS=${ROUNDS:-5}
FILE_MB=${FILE_MB:-1024}
PORT=${PORT:-19471}
WORK=${WORK:-/dev/shm/sansnet-file-bench}
command -v socat >/dev/null || { echo "file.sh: socat not found (apt-get install socat)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "file.sh: $BIN missing (cargo build --release -p sansnet)" >&2; exit 1; }
mkdir -p "$WORK"
SRC=$WORK/src.bin
OUTDIR=$WORK/out
trap 'rm -rf "$WORK"' EXIT
python3 - "$SRC" "$FILE_MB" <<'PY'
import os, sys
blk = os.urandom(64 << 20); n = int(sys.argv[2]) << 20
with open(sys.argv[1], 'wb') as f:
    while n > 0:
        f.write(blk[:min(n, len(blk))]); n -= len(blk)
PY
bytes=$(stat -c %s "$SRC")
PKI=$WORK/pki
if [[ -n $TLS ]]; then
    "$BIN" cert "$PKI" >/dev/null
fi

wait_port() {
    for _ in $(seq 200); do
        ss -ltnH "sport = :$PORT" | grep -q . && return 0
        sleep 0.01
    done
    echo "file.sh: nothing listens on $PORT" >&2; return 1
}

# Runs one transfer with PROGRAM; prints GB/s (or NA).
one() {
    local prog=$1 t0 t1 pid got
    rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"
    if [[ $prog == socat ]]; then
        timeout 120 socat -b 131072 -u "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr" \
            "OPEN:$OUTDIR/src.bin,creat,trunc,wronly" & pid=$!
        wait_port
        t0=$(date +%s.%N)
        timeout 120 socat -b 131072 -u "OPEN:$SRC,rdonly" "TCP:127.0.0.1:$PORT"
    elif [[ $prog == socat+tls ]]; then
        timeout 120 socat -b 131072 -u "OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,cert=$PKI/server.pem,key=$PKI/server-key.pem,verify=0" \
            "OPEN:$OUTDIR/src.bin,creat,trunc,wronly" & pid=$!
        wait_port
        t0=$(date +%s.%N)
        timeout 120 socat -b 131072 -u "OPEN:$SRC,rdonly" "OPENSSL:127.0.0.1:$PORT,cafile=$PKI/ca.pem"
    elif [[ $prog == *+tls ]]; then
        local rt=${prog%+tls}
        timeout 120 "$BIN" --runtime "$rt" file recv --dir "$OUTDIR" --bind "127.0.0.1:$PORT" --once \
            --quiet --tls-cert "$PKI/server.pem" --tls-key "$PKI/server-key.pem" >/dev/null & pid=$!
        wait_port
        t0=$(date +%s.%N)
        timeout 120 "$BIN" --runtime "$rt" file send "$SRC" "127.0.0.1:$PORT" --quiet --tls --ca "$PKI/ca.pem"
    else
        timeout 120 "$BIN" --runtime "$prog" file recv --dir "$OUTDIR" \
            --bind "127.0.0.1:$PORT" --once --quiet >/dev/null & pid=$!
        wait_port
        t0=$(date +%s.%N)
        timeout 120 "$BIN" --runtime "$prog" file send "$SRC" "127.0.0.1:$PORT" --quiet
    fi
    wait "$pid" || true
    t1=$(date +%s.%N)
    got=NA
    cmp -s "$SRC" "$OUTDIR/src.bin" &&
        got=$(awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN {printf "%.3f", b/(c-a)/1e9}')
    rm -rf "$OUTDIR"
    echo "$got"
}

declare -A runs
progs=(socat $RUNTIMES)
if [[ -n $TLS ]]; then
    progs+=(socat+tls)
    for rt in $TLS; do progs+=("$rt+tls"); done
fi
n=${#progs[@]}
for r in $(seq "$ROUNDS"); do
    line="round $r:"
    # Each round starts one program later: every program gets every place.
    for i in $(seq 0 $((n - 1))); do
        p=${progs[$(((r - 1 + i) % n))]}
        v=$(one "$p")
        runs[$p]="${runs[$p]:-} $v"
        line="$line $p $v"
    done
    echo "$line" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | grep -v NA | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "NA"}'; }
echo "| program | GB/s (median of $ROUNDS) | rounds |"
echo "|---|---|---|"
for p in "${progs[@]}"; do
    label="sansnet $p"; [[ $p == socat ]] && label='`socat -b 131072 -u` (no hash)'
    [[ $p == socat+tls ]] && label='`socat -b 131072 -u OPENSSL` (no hash)'
    echo "| $label | $(median <<<"${runs[$p]}") |${runs[$p]} |"
done
