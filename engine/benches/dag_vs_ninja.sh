#!/usr/bin/env bash
# DAG speed against ninja: 10,000 independent nodes running `true`, at -j2 / --jobs 2, in the
# same script, measured by hyperfine, plus each tool's peak RSS. Prints the ratio of wall times.
#
#   bash engine/benches/dag_vs_ninja.sh [NODES]      (needs ninja-build and hyperfine)
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes="${1:-10000}"
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
hyperfine --warmup 1 --runs 5 --export-json times.json \
  -n ninja "ninja -j2 -f build.ninja" \
  -n ralph-loop "$bin loop --workflow dag.yaml --jobs 2" >/dev/null
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
ninja_rss=$(rss ninja -j2 -f build.ninja)
ralph_rss=$(rss "$bin" loop --workflow dag.yaml --jobs 2)
python3 - "$nodes" "$ninja_rss" "$ralph_rss" <<'PY'
import json, sys
nodes, ninja_rss, ralph_rss = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = {x["command"]: x for x in json.load(open("times.json"))["results"]}
n, o = r["ninja"], r["ralph-loop"]
print(f"{nodes} nodes running `true` at -j2 (median of 5 runs)")
print(f"  ninja       {n['median']:7.2f} s   peak RSS {ninja_rss / 1024:6.1f} MiB")
print(f"  ralph-loop  {o['median']:7.2f} s   peak RSS {ralph_rss / 1024:6.1f} MiB")
print(f"  ratio       {o['median'] / n['median']:7.2f}x ninja (target: at most 1.25x; peak RSS target: 100 MiB)")
PY
