#!/usr/bin/env bash
# Instructions one node spends per chat message, counted by callgrind: a
# figure that stays put on a noisy machine, where timings do not.
#
#   benches/instructions.sh [NODE]     # NODE 0 sends, 1 to 4 receive; default 1
#
# Starts a 5-node chain of release builds (each joined through the one
# before, --no-discovery) with NODE under `valgrind --tool=callgrind`, pipes
# lines of 60 bytes into node 0, waits until every node has shown them all,
# and dumps NODE's counts before anything shuts down. It does this for 60,000
# and for 120,000 lines; the difference over 60,000 is the cost per message,
# free of start-up and handshakes, and of the recent cache's first filling
# (about 43,000 chat messages), which a longer flood pays once. Needs
# valgrind; leaves its files in a temporary directory, which it names.
set -euo pipefail
cd "$(dirname "$0")/.."
node="${1:-1}"
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/p2pchat"
work="$(mktemp -d)"
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

port_of() {
    local i
    for i in $(seq 100); do
        if grep -q 'listening on' "$1"; then
            grep -o 'listening on [^ ]*' "$1" | head -1 | sed 's/.*://'
            return
        fi
        sleep 0.1
    done
    echo "no port in $1" >&2
    exit 1
}

# Runs the chain once with `lines` lines; sets `total` to NODE's instructions.
count() {
    local lines="$1" dir="$work/$1" i wrap prev
    mkdir -p "$dir"
    python3 -c "import sys; sys.stdout.write(''.join(f'line {k:06} {\"x\" * 47}\n' for k in range($lines)))" >"$dir/lines"
    # Node 0 reads the lines from one pipe; the others read a pipe that
    # stays open and silent, since a node leaves when its input ends.
    mkfifo "$dir/in" "$dir/hold"
    exec 4<>"$dir/hold"
    pids=()
    for i in 0 1 2 3 4; do
        wrap=()
        [ "$i" = "$node" ] && wrap=(valgrind --tool=callgrind "--callgrind-out-file=$dir/callgrind.out")
        if [ "$i" = 0 ]; then
            "${wrap[@]}" "$bin" n0 --no-discovery <"$dir/in" >"$dir/out0" 2>"$dir/err0" &
            pids+=($!)
            exec 3>"$dir/in"
        else
            "${wrap[@]}" "$bin" "n$i" --no-discovery 127.0.0.1 "$prev" <"$dir/hold" >"$dir/out$i" 2>"$dir/err$i" &
            pids+=($!)
        fi
        prev="$(port_of "$dir/out$i")"
    done
    sleep 2 # peer exchange settles
    cat "$dir/lines" >&3
    for i in 0 1 2 3 4; do
        until [ "$(grep -c '^n0: line' "$dir/out$i")" -ge "$lines" ]; do sleep 0.2; done
    done
    callgrind_control --dump >/dev/null
    local dump=""
    for i in $(seq 100); do
        dump="$(ls "$dir"/callgrind.out.* 2>/dev/null | head -1)"
        [ -n "$dump" ] && break
        sleep 0.1
    done
    exec 3>&- 4>&-
    cleanup
    total="$(callgrind_annotate "$dump" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')"
}

count 60000
small="$total"
count 120000
large="$total"
echo "node $node: $(((large - small) / 60000)) instructions per message ($small for 60,000 lines, $large for 120,000; files in $work)"
