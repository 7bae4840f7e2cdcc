#!/usr/bin/env bash
# What a dead notification channel costs a run: a chain of STEPS steps (each `true`) with no
# notifications, against the same chain sending `on_start` and `on_complete` to a channel nobody
# listens on — a webhook at a closed 127.0.0.1 port, and an email channel (STARTTLS when offered,
# the default) at another. Target (issue 15): a run's time with a dead channel within 5% of none.
#
# Runs in a git work tree like the other benches (engine/benches/worktree.py), interleaved
# (none, webhook, email, none, …) after a warm-up of each; each ratio is the median of the
# rounds' ratios. The CPU time (user + system, the agents' processes included) is printed beside
# the wall time: on a loaded machine it says what the channel costs when the wall time is noise.
# Every run is checked: exit status 0, and for a dead channel the one warning
# that it could not be reached.
#
#   bash engine/benches/notify_dead_channel.sh [STEPS] [ROUNDS]   (defaults: 50 steps, 15 rounds)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
set -euo pipefail
source "$(dirname "$0")/common.sh"
steps="${1:-50}"
rounds="${2:-15}"
needs git python3
bin="$(ralph_bin)"
bench_tmp
project="$work/project"
make_worktree "$project"
python3 - "$project" "$steps" "$rounds" "$bin" <<'PY'
import os, shutil, socket, statistics, subprocess, sys, time
project, steps, rounds, bin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.chdir(project)

def closed_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

chain = "workflow:\n  type: dag\n  nodes:\n"
for i in range(steps):
    chain += f"    - id: n{i}\n      agent: t\n"
    if i:
        chain += f"      depends_on: [n{i - 1}]\n"
chain += 'agents:\n  t:\n    command: "true"\n'
events = "  events:\n    on_start: [ops]\n    on_complete: [ops]\n"
settings = {
    "none": chain,
    "webhook": chain + f"notifications:\n  channels:\n    ops:\n      type: webhook\n      url: http://127.0.0.1:{closed_port()}/hook\n" + events,
    "email": chain + f"notifications:\n  channels:\n    ops:\n      type: email\n      smtp: 127.0.0.1:{closed_port()}\n      to: team@example.com\n" + events,
}
for name, text in settings.items():
    with open(f"notify-{name}.yaml", "w") as f:
        f.write(text)

def wall(name):
    """The run's wall time, and its CPU time (user + system, its agents' processes included)."""
    shutil.rmtree(".ralph", ignore_errors=True)
    start = time.perf_counter()
    run = subprocess.Popen([bin, "loop", "--workflow", f"notify-{name}.yaml"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = run.stderr.read()
    _, status, usage = os.wait4(run.pid, 0)
    took = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or (name != "none" and "could not be reached" not in stderr):
        sys.exit(f"BENCH INVALID: {name}: exit {code}\n{stderr}")
    cpu_times[name].append(usage.ru_utime + usage.ru_stime)
    return took

cpu_times = {name: [] for name in settings}
for name in settings:  # warm-up: page cache, first-run costs
    wall(name)
cpu_times = {name: [] for name in settings}
times = {name: [] for name in settings}
for _ in range(rounds):
    for name in settings:
        times[name].append(wall(name))
load = os.getloadavg()[0]
print(f"{steps}-step chain of `true` in a git work tree, on_start and on_complete to a dead channel ({rounds} interleaved rounds, load {load:.2f})")
for name in settings:
    t, c = times[name], cpu_times[name]
    print(f"  {name:<8} wall median {statistics.median(t) * 1000:7.1f} ms (min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f}); CPU median {statistics.median(c) * 1000:6.1f} ms")
for name in ("webhook", "email"):
    ratios = sorted(a / b for a, b in zip(times[name], times["none"]))
    cpu = sorted(a / b for a, b in zip(cpu_times[name], cpu_times["none"]))
    print(f"  {name} / none  wall {statistics.median(ratios):6.3f}x, median of the rounds (range {ratios[0]:.3f}-{ratios[-1]:.3f}; target: at most 1.05x); CPU {statistics.median(cpu):6.3f}x")
PY
