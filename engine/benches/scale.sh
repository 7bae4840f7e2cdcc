#!/usr/bin/env bash
# Scale: NODES independent nodes with `--jobs NODES` (all ready at once, no limit on how many run
# at a time), inside a git work tree of 2,000 tracked files with untracked files lying around,
# two modified files and `.ralph/` not in .gitignore (engine/benches/worktree.py). Measures,
# from the moment ralph-loop is started:
#   - the time until the first agent process has started,
#   - the total wall time (the run is killed at TIMEOUT seconds and reported as timed out),
#   - the peak RSS (GNU time's %M; ralph-loop's own RSS is also sampled every second and shown
#     as it grows), and how many agents had started; after a timeout, also how many steps the
#     journal holds as started and finished (`ralph-loop logs --json`).
# Each node's command is `echo >> STARTED`, STARTED a file outside the work tree: a shell builtin
# like `true` (one `/bin/sh -c` per node), which also appends one byte per node, so the file's
# size is the number of agents started so far and its appearance the first start (polled every
# 5 ms). A finished run is checked: exit status 0, every node finished (`ralph-loop runs --json`)
# and NODES bytes in STARTED.
#
# This reproduces "100,000 nodes with --jobs 100000 started no agent in 600 s and grew to 1.6 GB".
# Mind the machine: if ralph-loop starts agents faster than they end, the number of processes at
# once is bounded only by the engine and the system (pid_max, the cgroup's pids.max).
#
#   bash engine/benches/scale.sh [NODES] [TIMEOUT]     (defaults: 100000 nodes, 900 s)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
set -euo pipefail
source "$(dirname "$0")/common.sh"
nodes="${1:-100000}"
timeout="${2:-900}"
needs git python3
bin="$(ralph_bin)"
bench_tmp
project="$work/project"
make_worktree "$project"
python3 - "$project" "$nodes" "$work/started" <<'PY'
import sys
project, n, started = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{project}/scale.yaml", "w") as f:
    f.write("workflow:\n  type: dag\n  nodes:\n")
    for i in range(n):
        f.write(f"    - id: n{i}\n      agent: t\n")
    f.write(f"agents:\n  t:\n    backend: command\n    command: \"echo >> {started}\"\n")
PY
python3 - "$bin" "$project" "$work" "$nodes" "$timeout" <<'PY'
import os, signal, subprocess, sys, time
from measure import load, Run, check_ralph, fail, read_rss, mib
bin, project, work, nodes, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
started, logs = os.path.join(work, "started"), os.path.join(work, "logs")
os.makedirs(logs)
out, err, rssf = (os.path.join(logs, f"scale.{x}") for x in ("out", "err", "rss"))
tracked = subprocess.run(["git", "ls-files", "-z"], cwd=project, capture_output=True).stdout.count(b"\0")
print(f"{nodes} independent nodes with --jobs {nodes}, inside a git work tree of {tracked} tracked files")
print(f"  (untracked files lying around, two modified files, .ralph/ not in .gitignore; timeout {timeout:.0f} s)")
print(f"  ralph-loop: {bin}; {load()} at the start", flush=True)

def count():
    try:
        return os.path.getsize(started)
    except OSError:
        return 0

def vm(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

with open(out, "wb") as o, open(err, "wb") as e:
    start = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rssf, bin, "loop", "--workflow", "scale.yaml",
                          "--jobs", str(nodes)], cwd=project, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    ralph, first, next_sample, timed_out, last_rss = None, None, 1.0, False, None
    while True:
        status = p.poll()
        now = time.perf_counter() - start
        if first is None and count() > 0:
            first = now
        if status is not None:
            break
        if ralph is None:
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    ralph = int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        if ralph is not None:
            rss = vm(ralph, "VmRSS")
            last_rss = rss if rss is not None else last_rss
        if now >= next_sample:
            if next_sample in (1, 2, 5) or next_sample % 10 == 0:
                print(f"  {now:6.1f} s: {count():6d} agents started, ralph-loop RSS {mib(last_rss)}", flush=True)
            next_sample += 1
        if now >= timeout:
            timed_out = True
            if ralph is not None:
                os.kill(ralph, signal.SIGKILL)
            # GNU time writes the peak RSS and exits; before it is reaped (its process group
            # still its own), end whatever else was left in that group.
            os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
            break
        time.sleep(0.005)
    wall = time.perf_counter() - start
run = Run(wall, read_rss(rssf), p.returncode, out, err)
ran = count()
first_s = f"{first:.2f} s" if first is not None else f"none within {wall:.0f} s"
if timed_out:
    print(f"  TIMED OUT after {wall:.0f} s and killed: {ran} of {nodes} agents started")
    print(f"  first agent started  {first_s}")
    # What the engine itself had recorded by then: steps journaled as started and finished.
    try:
        log = subprocess.run([bin, "logs", "--json"], cwd=project, capture_output=True, text=True, timeout=300).stdout
        began, ended = log.count('"event":"step_started"'), log.count('"event":"step_finished"')
        print(f"  in the journal       {began} steps started, {ended} finished")
    except subprocess.TimeoutExpired:
        print("  in the journal       (`ralph-loop logs --json` took over 300 s)")
    print(f"  RSS when killed      {mib(last_rss)}   peak RSS {mib(run.rss)}")
    print(f"  ({load()} at the end)")
    sys.exit(0)
record = check_ralph(bin, project, run, nodes)
if ran != nodes:
    fail(f"{ran} agents started, {nodes} expected", run)
print(f"  first agent started  {first_s}")
print(f"  total wall time      {wall:.2f} s   ({wall / nodes * 1e6:.0f} µs per node)")
print(f"  peak RSS             {mib(run.rss)}   (target: at most 100 MiB)")
print(f"  ({load()} at the end)")
PY
