#!/usr/bin/env bash
# DAG speed against ninja: 10,000 independent nodes running `true`, at -j2 / --jobs 2, plus
# each tool's peak RSS. Prints the ratio of wall times.
#
# The two tools run in interleaved pairs (ninja, ralph-loop, ninja, ralph-loop, …) and the ratio
# is the median of the pairs' ratios: on a shared machine whose speed drifts by 10-20% over a
# minute, timing all of one tool's runs and then all of the other's measures the drift as much
# as the tools. hyperfine's warm-up run comes first; its per-command medians are shown too.
#
#   bash engine/benches/dag_vs_ninja.sh [NODES] [PAIRS]   (needs ninja-build and hyperfine)
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-10000}"
pairs="${2:-9}"
for tool in ninja hyperfine; do
  command -v "$tool" >/dev/null || { echo "install $tool first: apt-get install ninja-build hyperfine" >&2; exit 2; }
done
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
        f.write(f"    - id: n{i}\n      agent: t\n")
    f.write('agents:\n  t:\n    backend: command\n    command: "true"\n')
with open(f"{work}/build.ninja", "w") as f:
    f.write("rule t\n  command = true\n")
    for i in range(n):
        f.write(f"build n{i}: t\n")
PY
cd "$work"
hyperfine --warmup 1 --runs 3 --export-json times.json \
  -n ninja "ninja -j2 -f build.ninja" \
  -n ralph-loop "$bin loop --workflow dag.yaml --jobs 2" >/dev/null
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
ninja_rss=$(rss ninja -j2 -f build.ninja)
ralph_rss=$(rss "$bin" loop --workflow dag.yaml --jobs 2)
python3 - "$nodes" "$pairs" "$ninja_rss" "$ralph_rss" "$bin" <<'PY'
import json, statistics, subprocess, sys, time
nodes, pairs, ninja_rss, ralph_rss, bin = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def wall(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start
ninja, ralph = [], []
for _ in range(pairs):
    ninja.append(wall(["ninja", "-j2", "-f", "build.ninja"]))
    ralph.append(wall([bin, "loop", "--workflow", "dag.yaml", "--jobs", "2"]))
ratios = sorted(r / n for r, n in zip(ralph, ninja))
h = {x["command"]: x["median"] for x in json.load(open("times.json"))["results"]}
print(f"{nodes} nodes running `true` at -j2 ({pairs} interleaved pairs)")
print(f"  ninja       {statistics.median(ninja):7.2f} s   peak RSS {ninja_rss / 1024:6.1f} MiB   (hyperfine median {h['ninja']:.2f} s)")
print(f"  ralph-loop  {statistics.median(ralph):7.2f} s   peak RSS {ralph_rss / 1024:6.1f} MiB   (hyperfine median {h['ralph-loop']:.2f} s)")
print(f"  ratio       {statistics.median(ratios):7.2f}x ninja, median of the pairs (range {ratios[0]:.2f}-{ratios[-1]:.2f}; target: at most 1.25x; peak RSS target: 100 MiB)")
PY
