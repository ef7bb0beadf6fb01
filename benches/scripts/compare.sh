#!/usr/bin/env bash
# Runs one loadgen scenario against switchboard's WebSocket path and the baselines, one
# server at a time on loopback, and writes each run's JSON report and SVG plot to OUT_DIR.
#
# Usage: benches/scripts/compare.sh SCENARIO OUT_DIR [LOADGEN OPTIONS...]
#   SCENARIO is echo or broadcast; the servers run in that mode.
# Example:
#   benches/scripts/compare.sh echo /tmp/bench --connections 200 --in-flight 4 --duration-secs 10
#
# Needs release builds (cargo build --release --bin switchboard --bin loadgen
# --bin baseline-tokio-ws) and `npm install` in benches/baselines/node-ws.
set -euo pipefail

scenario=$1
out_dir=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
port=19001
mkdir -p "$out_dir"

# Starts a server in the background, waits for its listening line, and runs loadgen with
# --server-pid so the report includes the server's memory.
run_against() {
    local name=$1
    shift
    local log="$out_dir/$name-server.log"
    "$@" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening" "$log" && break
        sleep 0.1
    done
    if ! grep -q "listening" "$log"; then
        echo "$name did not start; see $log" >&2
        kill "$pid" 2>/dev/null || true
        return 1
    fi

    echo "== $scenario against $name (pid $pid)"
    local status=0
    "$bin/loadgen" "$scenario" --target "127.0.0.1:$port" --server-pid "$pid" \
        --json "$out_dir/$name.json" "${loadgen_args[@]}" || status=$?
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return $status
}

loadgen_args=("$@")
run_against switchboard-bench-ws "$bin/switchboard" bench-ws --mode "$scenario" --addr "127.0.0.1:$port"
run_against tokio-tungstenite "$bin/baseline-tokio-ws" --mode "$scenario" --addr "127.0.0.1:$port"
run_against node-ws node "$root/benches/baselines/node-ws/server.js" --mode "$scenario" --port "$port"
