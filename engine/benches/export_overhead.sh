#!/usr/bin/env bash
# The cost of OpenTelemetry export when the collector is down: a 1,000-node DAG (each node runs
# `true`, at --jobs 2) with export off, against the same DAG exporting traces and metrics over
# OTLP to 127.0.0.1 ports where nothing listens — gRPC and HTTP. Target: within 5% of export off.
#
# Runs are interleaved (off, grpc, http, off, grpc, http, …) and each ratio is the median of the
# per-round ratios: a shared machine's speed drifts over a minute, and timing all of one
# setting's runs, then all of the other's, would measure the drift. Each run starts from an
# empty state directory.
#
#   bash engine/benches/export_overhead.sh [NODES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-1000}"
rounds="${2:-15}"
cargo build --release --locked -q
bin="$PWD/target/release/ralph-loop"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$nodes" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/dag.yaml", "w") as f:
    f.write("workflow:\n  type: dag\n  nodes:\n")
    for i in range(n):
        # A tree, so the ready queue and the spans have some shape.
        f.write(f"    - id: n{i}\n      agent: t\n")
        if i > 0:
            f.write(f"      depends_on: [n{(i - 1) // 4}]\n")
    f.write('agents:\n  t:\n    backend: command\n    command: "true"\n')
PY
python3 - "$work" "$nodes" "$rounds" "$bin" <<'PY'
import os, shutil, socket, statistics, subprocess, sys, time
work, nodes, rounds, bin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.chdir(work)
def closed_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port
grpc, http = closed_port(), closed_port()
base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
settings = {
    "off": {},
    "grpc": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    "http": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http}", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
}
def wall(extra):
    shutil.rmtree(".ralph", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([bin, "loop", "--workflow", "dag.yaml", "--jobs", "2"], env={**base, **extra},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start
for extra in settings.values():  # warm-up: page cache, first-run costs
    wall(extra)
times = {name: [] for name in settings}
for _ in range(rounds):
    for name, extra in settings.items():
        times[name].append(wall(extra))
print(f"{nodes}-node DAG running `true` at --jobs 2, collector down ({rounds} interleaved rounds)")
for name in settings:
    print(f"  export {name:<4}  median {statistics.median(times[name]):6.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f})")
for name in ("grpc", "http"):
    ratios = sorted(a / b for a, b in zip(times[name], times["off"]))
    print(f"  {name} / off   {statistics.median(ratios):6.3f}x, median of the rounds (range {ratios[0]:.3f}-{ratios[-1]:.3f}; target: at most 1.05x)")
PY
