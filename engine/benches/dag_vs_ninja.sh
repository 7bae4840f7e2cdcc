#!/usr/bin/env bash
# DAG speed against ninja, inside a git work tree: NODES independent nodes each running `true`,
# `ralph-loop loop --workflow dag.yaml --jobs 2` against `ninja -j2` building the same NODES
# edges, both run in the same project directory — a git work tree of 2,000 tracked files with
# untracked files lying around, two modified files and `.ralph/` not in .gitignore, as users have
# it (engine/benches/worktree.py makes it). Prints both wall times, the ratio and each tool's peak
# RSS (GNU time's %M). Targets: at most 1.15x ninja, peak RSS at most 100 MiB.
#
# Both tools spawn one small process per node: ninja runs each edge's command as `/bin/sh -c true`
# (dash, whose `true` is a builtin); ralph-loop executes a command without shell syntax directly,
# as make does, so `true` runs as `/usr/bin/true`.
#
# The tools run in interleaved pairs (ninja, ralph-loop, ninja, ralph-loop, …) after a small
# warm-up of each, and the ratio is the median of the pairs' ratios: on a shared machine whose
# speed drifts by 10-20% over a minute, timing all of one tool's runs and then all of the other's
# measures the drift as much as the tools. Every run starts clean (`.ralph/` removed before each
# ralph-loop run, `.ninja_log` before each ninja run) and is checked: exit status 0, every node
# finished (`ralph-loop runs --json`), every edge run (ninja's status lines).
#
#   bash engine/benches/dag_vs_ninja.sh [NODES] [PAIRS]        (defaults: 10000 nodes, 5 pairs)
#   RALPH_BIN=path/to/ralph-loop bash engine/benches/dag_vs_ninja.sh   (else builds target/release)
#   BENCH_FILES=N: N tracked files instead of 2,000 (at least 1: .gitignore)
#
# Needs ninja-build and GNU time (apt-get install ninja-build time).
set -euo pipefail
source "$(dirname "$0")/common.sh"
nodes="${1:-10000}"
pairs="${2:-5}"
needs ninja git python3
bin="$(ralph_bin)"
bench_tmp
project="$work/project"
make_worktree "$project"
python3 - "$project" "$nodes" <<'PY'
import sys
project, n = sys.argv[1], int(sys.argv[2])
def write(name, count):
    with open(f"{project}/{name}.yaml", "w") as f:
        f.write("workflow:\n  type: dag\n  nodes:\n")
        for i in range(count):
            f.write(f"    - id: n{i}\n      agent: t\n")
        f.write('agents:\n  t:\n    backend: command\n    command: "true"\n')
    with open(f"{project}/{name}.ninja", "w") as f:
        f.write("rule t\n  command = true\n")
        for i in range(count):
            f.write(f"build n{i}: t\n")
write("dag", n)
write("warmup", 20)
PY
python3 - "$bin" "$project" "$work/logs" "$nodes" "$pairs" <<'PY'
import subprocess, sys
from measure import load, timed, check_ralph, check_ninja, fresh, median, mib
bin, project, logs, nodes, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tracked = subprocess.run(["git", "ls-files", "-z"], cwd=project, capture_output=True).stdout.count(b"\0")

def ninja(name, edges, tag):
    fresh(project, ".ninja_log", ".ninja_deps")
    r = timed(["ninja", "-j2", "-f", f"{name}.ninja"], project, logs, tag)
    check_ninja(r, edges)
    return r

def ralph(name, steps, tag):
    fresh(project, ".ralph")
    r = timed([bin, "loop", "--workflow", f"{name}.yaml", "--jobs", "2"], project, logs, tag)
    check_ralph(bin, project, r, steps)
    return r

print(f"{nodes} independent nodes running `true` at -j2 / --jobs 2, inside a git work tree of {tracked} tracked files")
print(f"  (untracked files lying around, two modified files, .ralph/ not in .gitignore; {pairs} interleaved pairs)")
print(f"  ralph-loop: {bin}; {load()} at the start", flush=True)
ninja("warmup", 20, "warmup-ninja")
ralph("warmup", 20, "warmup-ralph")
runs = []
for k in range(pairs):
    n = ninja("dag", nodes, f"ninja-{k}")
    r = ralph("dag", nodes, f"ralph-{k}")
    runs.append((n, r))
    print(f"  pair {k + 1}: ninja {n.wall:7.2f} s   ralph-loop {r.wall:7.2f} s   ratio {r.wall / n.wall:6.2f}x", flush=True)
ratios = sorted(r.wall / n.wall for n, r in runs)
nw, rw = median([n.wall for n, _ in runs]), median([r.wall for _, r in runs])
nrss, rrss = max(n.rss for n, _ in runs), max(r.rss for _, r in runs)
print(f"  ninja       {nw:7.2f} s (median)   peak RSS {mib(nrss)}")
print(f"  ralph-loop  {rw:7.2f} s (median)   peak RSS {mib(rrss)}   (target: at most 100 MiB)")
print(f"  ratio       {median(ratios):7.2f}x ninja, median of the pairs (range {ratios[0]:.2f}-{ratios[-1]:.2f}; target: at most 1.15x)")
print(f"  ({load()} at the end)")
PY
