#!/usr/bin/env bash
# Runs every benchmark of function-gitlab-runner-fleet on this machine, side
# by side, and prints the figures BENCHMARKS.md records:
#
#   - calls per second and latency at concurrency 1 and 64 of the function,
#     the floor (benches/floor.rs: same proto and tonic server, no work) and
#     the peer (bench/peer_noop.py: a no-op function on Crossplane's Python
#     SDK runtime), with the ratios function/floor and function/peer;
#   - each server's CPU time per call, from /proc/<pid>/stat;
#   - resident memory of each server after 100,000 calls;
#   - time from process start to the first answered call;
#   - wall time of `render` on the examples;
#   - the criterion micro-benchmarks (benches/compose.rs).
#
# All traffic goes to 127.0.0.1; the load generator rejects any other
# target and stops after its request count or its time cap.
#
# Needs the Python SDK venv that .ci/run sets up in target/peer-venv, or
# the interpreter named by PEER_PYTHON.
# Settings, from the environment: ROUNDS (3), C1_REQUESTS (20000),
# C64_REQUESTS (100000), TIME_CAP (30 s per run), CRITERION (1 to run it).
# Raw results go to target/bench-results/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-3}"
C1_REQUESTS="${C1_REQUESTS:-20000}"
C64_REQUESTS="${C64_REQUESTS:-100000}"
TIME_CAP="${TIME_CAP:-30}"
CRITERION="${CRITERION:-1}"

PEER_PYTHON="${PEER_PYTHON:-target/peer-venv/bin/python}"
OUT="target/bench-results"
FIXTURE="bench/fixtures/fleet-request.json"

FUNCTION_ADDRESS="127.0.0.1:19443"
FUNCTION_METRICS_ADDRESS="127.0.0.1:19080"
FLOOR_ADDRESS="127.0.0.1:19444"
PEER_ADDRESS="127.0.0.1:19445"

section() {
    printf '\n==== %s ====\n' "$*"
}

load_average() {
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if ! "$PEER_PYTHON" -c 'import crossplane.function.runtime' 2>/dev/null; then
    echo "error: no Python SDK in $PEER_PYTHON: create target/peer-venv with" \
        "'python3 -m venv target/peer-venv && target/peer-venv/bin/pip install" \
        "-r tests/peer/requirements.txt', or set PEER_PYTHON to a Python that has it" >&2
    exit 1
fi
mkdir -p "$OUT"

section "Machine"
date -u '+%Y-%m-%d %H:%M UTC'
echo "nproc: $(nproc)"
lscpu | head -n 15
free -h
uname -srm
load_average

section "Build (release)"
cargo build --release --locked --bin function-gitlab-runner-fleet
FUNCTION_BIN="target/release/function-gitlab-runner-fleet"
# Bench targets build in the bench profile, which inherits release.
cargo bench --locked --no-run --bench loadgen --bench floor --message-format=json \
    >"$OUT/build.jsonl"
read -r LOADGEN_BIN FLOOR_BIN < <("$PEER_PYTHON" - "$OUT/build.jsonl" <<'EOF'
import json, sys
paths = {}
for line in open(sys.argv[1]):
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable"):
        paths[message["target"]["name"]] = message["executable"]
print(paths["loadgen"], paths["floor"])
EOF
)
echo "function: $FUNCTION_BIN"
echo "loadgen:  $LOADGEN_BIN"
echo "floor:    $FLOOR_BIN"

FUNCTION_CMD=("$FUNCTION_BIN" --insecure --address "$FUNCTION_ADDRESS" --metrics-address "$FUNCTION_METRICS_ADDRESS")
FLOOR_CMD=("$FLOOR_BIN" --address "$FLOOR_ADDRESS")
PEER_CMD=("$PEER_PYTHON" bench/peer_noop.py --address "$PEER_ADDRESS")

SERVER_PIDS=()
cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# start_server ADDRESS COMMAND...: starts COMMAND in the background, waits
# until a call to ADDRESS succeeds and sets SERVER_PID.
start_server() {
    local address="$1"
    shift
    "$@" 2>>"$OUT/servers.log" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        if "$LOADGEN_BIN" run --target "$address" --fixture "$FIXTURE" --requests 1 \
            --warmup 0 --time-cap-seconds 1 --json 2>/dev/null | grep -q '"ok":1'; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: the server on $address returned no response within 10 s: $*" >&2
    exit 1
}

stop_server() {
    kill -TERM "$1"
    wait "$1" || true
}

# rss PID: prints the current and peak resident set size, in KiB.
rss() {
    awk '/^VmRSS|^VmHWM/ {printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$1/status"
}

# cpu_ticks PID: prints the CPU time the process has used in user and
# kernel mode, in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

section "Throughput and latency ($ROUNDS rounds, interleaved)"
load_average
: >"$OUT/load.jsonl"
: >"$OUT/cpu.txt"
start_server "$FUNCTION_ADDRESS" "${FUNCTION_CMD[@]}"
FUNCTION_PID=$SERVER_PID
start_server "$FLOOR_ADDRESS" "${FLOOR_CMD[@]}"
FLOOR_PID=$SERVER_PID
start_server "$PEER_ADDRESS" "${PEER_CMD[@]}"
PEER_PID=$SERVER_PID

for round in $(seq "$ROUNDS"); do
    for concurrency in 1 64; do
        requests=$C1_REQUESTS
        [ "$concurrency" = 64 ] && requests=$C64_REQUESTS
        for server in function floor peer; do
            case $server in
                function) address=$FUNCTION_ADDRESS pid=$FUNCTION_PID ;;
                floor) address=$FLOOR_ADDRESS pid=$FLOOR_PID ;;
                peer) address=$PEER_ADDRESS pid=$PEER_PID ;;
            esac
            ticks_before=$(cpu_ticks "$pid")
            "$LOADGEN_BIN" run --target "$address" --fixture "$FIXTURE" \
                --concurrency "$concurrency" --requests "$requests" --warmup 2000 \
                --time-cap-seconds "$TIME_CAP" --label "$server" --json \
                | tee -a "$OUT/load.jsonl"
            ticks_after=$(cpu_ticks "$pid")
            # Warm-up calls count too: the server cannot tell them apart.
            echo "$server $concurrency $((ticks_after - ticks_before)) $((requests + 2000))" \
                >>"$OUT/cpu.txt"
        done
    done
    echo "round $round done; $(load_average)"
done
stop_server "$FUNCTION_PID"
stop_server "$FLOOR_PID"
stop_server "$PEER_PID"
SERVER_PIDS=()

"$PEER_PYTHON" - "$OUT/load.jsonl" "$OUT/cpu.txt" <<'EOF'
import json, os, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by_key = {}
for run in runs:
    by_key.setdefault((run["label"], run["concurrency"]), []).append(run)

def median_run(key):
    chosen = sorted(by_key[key], key=lambda r: r["throughput_per_second"])
    return chosen[len(chosen) // 2]

print("\nMedian round by throughput (latency in microseconds):\n")
print("| server | concurrency | calls/s | p50 | p90 | p99 | max | errors | rounds (calls/s) |")
print("|---|---:|---:|---:|---:|---:|---:|---|---|")
for concurrency in (1, 64):
    for label in ("function", "floor", "peer"):
        run = median_run((label, concurrency))
        latency = run["latency_us"]
        every = ", ".join(f"{r['throughput_per_second']:.0f}" for r in by_key[(label, concurrency)])
        errors = sum(run["errors"].values())
        print(f"| {label} | {concurrency} | {run['throughput_per_second']:.0f} | "
              f"{latency['p50']:.0f} | {latency['p90']:.0f} | {latency['p99']:.0f} | "
              f"{latency['max']:.0f} | {errors} | {every} |")

print()
for concurrency in (1, 64):
    ours = median_run(("function", concurrency))
    floor = median_run(("floor", concurrency))
    peer = median_run(("peer", concurrency))
    print(f"concurrency {concurrency}: throughput function/floor "
          f"{ours['throughput_per_second'] / floor['throughput_per_second']:.2f}, "
          f"function/peer {ours['throughput_per_second'] / peer['throughput_per_second']:.2f}; "
          f"p99 function/floor {ours['latency_us']['p99'] / floor['latency_us']['p99']:.2f}")
ticks_per_second = os.sysconf("SC_CLK_TCK")
per_call = {}
for line in open(sys.argv[2]):
    server, concurrency, ticks, calls = line.split()
    per_call.setdefault((server, int(concurrency)), []).append(
        int(ticks) / ticks_per_second / int(calls) * 1e6)
print("\nServer CPU time per call, user and kernel, median round (the load generator's not included):\n")
print("| server | concurrency | CPU per call (µs) | every round |")
print("|---|---:|---:|---|")
for concurrency in (1, 64):
    for label in ("function", "floor", "peer"):
        rounds = per_call[(label, concurrency)]
        every = ", ".join(f"{value:.0f}" for value in rounds)
        print(f"| {label} | {concurrency} | {statistics.median(rounds):.0f} | {every} |")

checks = [(r["label"], r["concurrency"], r["mismatched"], r["desired_resources"], r["fatal_results"]) for r in runs]
print("\nResponses that differed from the first:", sum(c[2] for c in checks))
for label in ("function", "floor", "peer"):
    sample = next(c for c in checks if c[0] == label)
    print(f"{label}: {sample[3]} desired resources, {sample[4]} Fatal results per response")
EOF

section "Resident memory after 100,000 calls (fresh server, concurrency 64)"
for server in function floor peer; do
    case $server in
        function) address=$FUNCTION_ADDRESS; command=("${FUNCTION_CMD[@]}") ;;
        floor) address=$FLOOR_ADDRESS; command=("${FLOOR_CMD[@]}") ;;
        peer) address=$PEER_ADDRESS; command=("${PEER_CMD[@]}") ;;
    esac
    start_server "$address" "${command[@]}"
    echo "$server before: $(rss "$SERVER_PID")"
    "$LOADGEN_BIN" run --target "$address" --fixture "$FIXTURE" --concurrency 64 \
        --requests 100000 --warmup 0 --time-cap-seconds 120 --label "$server" \
        | sed -n '1,3p'
    echo "$server after:  $(rss "$SERVER_PID")"
    stop_server "$SERVER_PID"
    SERVER_PIDS=()
done

section "Time from process start to the first answered call"
"$LOADGEN_BIN" startup --target "$FUNCTION_ADDRESS" --fixture "$FIXTURE" --runs 20 \
    --label function -- "${FUNCTION_CMD[@]}"
"$LOADGEN_BIN" startup --target "$FLOOR_ADDRESS" --fixture "$FIXTURE" --runs 20 \
    --label floor -- "${FLOOR_CMD[@]}"
"$LOADGEN_BIN" startup --target "$PEER_ADDRESS" --fixture "$FIXTURE" --runs 5 \
    --label peer -- "${PEER_CMD[@]}"

section "render wall time on the examples (20 runs)"
"$PEER_PYTHON" - "$FUNCTION_BIN" <<'EOF'
import statistics, subprocess, sys, time

binary = sys.argv[1]
commands = {
    "example (observed, required, results)": [
        binary, "render", "examples/xr.yaml", "examples/composition.yaml",
        "examples/functions.yaml", "-o", "examples/observed.yaml",
        "-e", "examples/required.yaml", "-r",
    ],
    "example, first reconcile (XR only)": [
        binary, "render", "examples/xr.yaml", "examples/composition.yaml",
        "examples/functions.yaml",
    ],
}
for name, command in commands.items():
    times = []
    for _ in range(20):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"{name}: min {times[0]:.1f} ms, median {statistics.median(times):.1f} ms, "
          f"max {times[-1]:.1f} ms")
EOF
load_average

if [ "$CRITERION" = 1 ]; then
    section "Criterion micro-benchmarks (benches/compose.rs)"
    cargo bench --locked --bench compose 2>&1 | tee "$OUT/criterion.txt" \
        | grep -E '^[a-z_]+/|time:'
    load_average
fi
