#!/usr/bin/env bash
# What tasks that plan themselves cost a loop: a task loop over N tasks (a `tasks.json` with
# dependencies, one command agent that does nothing) run plain, against the same tasks with
# `roles:` (a third of them on another agent), `routing:` (a third by label) and `escalation:`
# configured — each routed iteration journals its choice and makes it durable before its first
# step. No target in the issue; the figure is recorded in engine/benches/README.md.
#
# Runs in a git work tree like the other benches (engine/benches/worktree.py), interleaved
# (plain, routed, plain, …) after a warm-up of each; the ratio is the median of the rounds' ratios.
#
#   bash engine/benches/self_planning.sh [TASKS] [ROUNDS]   (defaults: 300 tasks, 7 rounds)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
set -euo pipefail
source "$(dirname "$0")/common.sh"
tasks="${1:-300}"
rounds="${2:-7}"
needs git python3
bin="$(ralph_bin)"
bench_tmp
project="$work/project"
make_worktree "$project"
python3 - "$project" "$tasks" "$rounds" "$bin" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
project, n, rounds, bin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.chdir(project)

with open("plan.yaml", "w") as f:
    f.write("workflow:\n  nodes:\n    - id: work\n      agent: builder\n"
            "agents:\n  builder:\n    command: \"true\"\n  ideator:\n    command: \"true\"\n  tester:\n    command: \"true\"\n")
plain_config = ""
routed_config = ("roles:\n  ideas: ideator\nrouting:\n  tests: {agent: tester}\n"
                 "escalation:\n  trigger_after: 3\n  agent: tester\n")

def tasks_file():
    tasks = []
    for i in range(n):
        task = {"id": f"t{i}", "title": f"Task {i}", "priority": i % 3}
        if i % 10 == 9:
            task["depends_on"] = [f"t{i - 1}"]
        if i % 3 == 1:
            task["role"] = "ideas"
        if i % 3 == 2:
            task["labels"] = ["tests"]
        tasks.append(task)
    return "{\"tasks\": [\n" + ",\n".join("  " + json.dumps(t) for t in tasks) + "\n]}\n"

def run(config):
    shutil.rmtree(".ralph", ignore_errors=True)
    if config:
        with open("ralph.yaml", "w") as f:
            f.write(config)
    elif os.path.exists("ralph.yaml"):
        os.remove("ralph.yaml")
    with open("tasks.json", "w") as f:
        f.write(tasks_file())
    start = time.perf_counter()
    out = subprocess.run([bin, "loop", "--workflow", "plan.yaml", "--max-iterations", str(n * 2)],
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"the run failed ({out.returncode}):\n{out.stderr[-2000:]}")
    done = json.load(open("tasks.json"))["tasks"]
    if sum(t["status"] == "done" for t in done) != n:
        sys.exit("not every task is done")
    return wall

run(plain_config), run(routed_config)
plain, routed, ratios = [], [], []
for _ in range(rounds):
    p = run(plain_config)
    r = run(routed_config)
    plain.append(p), routed.append(r), ratios.append(r / p)
print(f"{n} tasks, {rounds} rounds, in a git work tree of {len(subprocess.run(['git', 'ls-files'], capture_output=True, text=True).stdout.splitlines())} files")
print(f"plain   median {statistics.median(plain):.3f} s ({statistics.median(plain) / n * 1000:.2f} ms a task)")
print(f"routed  median {statistics.median(routed):.3f} s ({statistics.median(routed) / n * 1000:.2f} ms a task)")
print(f"routed / plain: median {statistics.median(ratios):.3f}× (rounds {min(ratios):.3f}-{max(ratios):.3f})")
PY
