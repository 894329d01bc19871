#!/usr/bin/env bash
# Measures how long `cove serve` takes from exec to "cove listening" (first start on an empty
# data dir, and a restart on the same dir), five times each, with the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin cove >/dev/null 2>&1
bin="$PWD/target/release/cove"
work=$(mktemp -d)
trap 'pkill -f "$bin serve --listen 127.0.0.1:0 --data-dir $work/data" || true; rm -rf "$work"' EXIT
start_once() {
    local log="$work/log" t0 t1 pid
    : >"$log"
    t0=$(date +%s%N)
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" 2>"$log" &
    pid=$!
    until grep -q "cove listening" "$log"; do sleep 0.002; done
    t1=$(date +%s%N)
    kill -TERM "$pid"
    wait "$pid" || true
    echo $(((t1 - t0) / 1000000))
}
for i in 1 2 3 4 5; do
    rm -rf "$work/data"
    first=$(start_once)
    again=$(start_once)
    echo "run $i: first start ${first} ms, restart ${again} ms"
done
