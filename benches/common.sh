# What the load-generator scripts share (benches/ws/fanout.sh,
# benches/conns/run.sh); sourced, from the repository's root.
#
# A scratch directory `$tmp` and the server under test `$pid`, both gone
# when the script exits; `loadgen BIN` and `field KEY FILE`.

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# loadgen BIN: sets LOADGEN to sansnet-benches' binary BIN, built in
# release, unless LOADGEN is set already.
loadgen() {
    if [ -z "${LOADGEN:-}" ]; then
        cargo build -q --release -p sansnet-benches --bin "$1"
        LOADGEN=${CARGO_TARGET_DIR:-target}/release/$1
    fi
}

# field KEY FILE: the value of KEY=... on the RESULT line of FILE.
field() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2"; }

# launch NAME CMD...: runs CMD in the background as the server under test
# (`$pid`), its output in `$tmp/NAME.out` and `$tmp/NAME.err`.
launch() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
}

# within_10s CMD...: succeeds once CMD does, tried every 50 ms for 10 s.
within_10s() {
    for _ in $(seq 200); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
