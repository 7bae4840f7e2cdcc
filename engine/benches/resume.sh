#!/usr/bin/env bash
# Resume speed, inside a git work tree: how long `ralph-loop resume` takes on a run whose journal
# holds ~100,000 events to be ready to continue (its `resumed` event), against the same workflow
# started fresh (the baseline: everything a loop does before its first step, without a journal to
# read); and the whole commands, which also run the last step or two, fsync and close the store.
# Target: ready to continue in under 200 ms.
#
# The project is a git work tree of 2,000 tracked files with untracked files lying around, two
# modified files and `.ralph/` not in .gitignore, as users have it (engine/benches/worktree.py).
# The journal comes from a real run: a state machine looping `work` -> `gate` -> `work` is
# killed with SIGKILL once it has journaled EVENTS events; `stop` then makes `gate` succeed, so
# the resumed run ends after its interrupted step. `work` reports its progress with 40 signals
# per step, as agents do — each a journaled event — so the journal fills in minutes rather than
# waiting out one fsync per transition for 30,000 transitions. Each resume starts from a copy of
# the killed run's `.ralph/`, and one resumed run is checked to end `succeeded`.
#
#   bash engine/benches/resume.sh [EVENTS]      (needs hyperfine and git)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
#   RESUME_BENCH_DIR=DIR           make everything in DIR and keep it (for profiling): the work
#                                  tree is DIR/project, the killed run's store DIR/ralph.orig
set -euo pipefail
source "$(dirname "$0")/common.sh"
events="${1:-100000}"
needs hyperfine git python3
bin="$(ralph_bin)"
if [ -n "${RESUME_BENCH_DIR:-}" ]; then
  work="$RESUME_BENCH_DIR"; rm -rf "$work"; mkdir -p "$work"; work="$(cd "$work" && pwd)"
else
  bench_tmp
fi
make_worktree "$work/project"
cd "$work/project"
cat > w.yaml <<'YAML'
loop:
  max_iterations: 10000000
workflow:
  states:
    - id: work
      agent: worker
    - id: gate
      agent: gatekeeper
    - id: done
      type: terminal
  transitions:
    - from: work
      to: gate
    - from: gate
      to: done
      condition: success
      else: work
agents:
  worker:
    command: "sh work.sh"
  gatekeeper:
    command: "test -e stop"
YAML
cat > work.sh <<'SH'
i=0
while [ $i -lt 40 ]; do
  echo '{"signal": "progress", "percent": '$i', "message": "working on part '$i' of 40"}'
  i=$((i + 1))
done
SH
# Generate: stream the run's events and SIGKILL it once the journal is long enough. Every line
# of --json output is journaled before it is printed, or soon after; the count is read back
# from the journal below.
python3 - "$bin" "$events" <<'PY'
import os, signal, subprocess, sys
bin, want = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen([bin, "loop", "--workflow", "w.yaml", "--json"], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True)
seen = 0
for line in p.stdout:
    if line.startswith('{"event":'):
        seen += 1
    if seen >= want:
        break
os.kill(p.pid, signal.SIGKILL)
p.wait()
PY
run=$("$bin" logs --json | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["run_id"])')
journaled=$("$bin" logs --run "$run" --json | wc -l)
touch stop
cp -a .ralph "$work/ralph.orig"
# The measure is of a resume that works: one resumed run must end `succeeded`.
"$bin" resume "$run" >"$work/resume-check.out" 2>&1 || { echo "BENCH INVALID: resume exited with $?" >&2; tail "$work/resume-check.out" >&2; exit 1; }
"$bin" runs --json | python3 -c '
import json, sys
run = sys.argv[1]
r = [x for x in json.load(sys.stdin)["runs"] if x["run_id"] == run]
status = r[0]["status"] if r else "missing"
if status != "succeeded":
    sys.exit(f"BENCH INVALID: the resumed run {run} ended {status}")
' "$run"
# The baseline: a fresh run of the same workflow (`stop` exists: work, gate, done).
hyperfine --warmup 2 --runs 10 --export-json "$work/times.json" \
  -n fresh "$bin loop --workflow w.yaml" \
  -n resume --prepare "rm -rf .ralph && cp -a '$work/ralph.orig' .ralph" "$bin resume $run" >/dev/null
# Ready to continue: from starting `resume` to its `resumed` event (journal read and applied,
# the run's state rebuilt, the next step about to start), and for the fresh start to its
# `run_started` event.
python3 - "$bin" "$run" "$journaled" "$work" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
from measure import load
bin, run, journaled, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True).stdout.count(b"\0")
def ready(argv, event, fresh_copy):
    if fresh_copy:
        shutil.rmtree(".ralph", ignore_errors=True)
        subprocess.run(["cp", "-a", os.path.join(work, "ralph.orig"), ".ralph"], check=True)
    start = time.perf_counter()
    p = subprocess.Popen(argv + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    took = None
    for line in p.stdout:
        if took is None and f'"event":"{event}"' in line:
            took = time.perf_counter() - start
    p.wait()
    if p.returncode != 0 or took is None:
        sys.exit(f"BENCH INVALID: {' '.join(argv)} exited with {p.returncode}" + ("" if took else f", no {event} event"))
    return took
resumes, fresh = [], []
for _ in range(10):
    resumes.append(ready([bin, "resume", run], "resumed", True))
    fresh.append(ready([bin, "loop", "--workflow", "w.yaml"], "run_started", False))
r = {x["command"]: x for x in json.load(open(os.path.join(work, "times.json")))["results"]}
f, s = r["fresh"], r["resume"]
print(f"resume of a run with {journaled} journal events, inside a git work tree of {tracked} tracked files (median of 10 runs)")
print(f"  (untracked files lying around, two modified files, .ralph/ not in .gitignore); ralph-loop: {bin}; {load()} at the end")
print(f"  ready to continue: resume {statistics.median(resumes) * 1000:6.1f} ms (max {max(resumes) * 1000:.1f})"
      f"   fresh start {statistics.median(fresh) * 1000:6.1f} ms   (target: resume under 200 ms)")
print(f"  whole command:     resume {s['median'] * 1000:6.1f} ms (max {s['max'] * 1000:.1f})"
      f"   fresh start {f['median'] * 1000:6.1f} ms   ratio {s['median'] / f['median']:.2f}x")
PY
