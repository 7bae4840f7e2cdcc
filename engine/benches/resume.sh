#!/usr/bin/env bash
# Resume speed: how long `ralph-loop resume` takes on a run whose journal holds ~100,000 events
# to be ready to continue (its `resumed` event), against the same workflow started fresh (the
# baseline: everything a loop does before its first step, without a journal to read); and the
# whole commands, which also run the last step or two, fsync and close the store.
#
# The journal comes from a real run: a state machine looping `work` -> `gate` -> `work` is
# killed with SIGKILL once it has journaled EVENTS events; `stop` then makes `gate` succeed, so
# the resumed run ends after its interrupted step. `work` reports its progress with 40 signals
# per step, as agents do — each a journaled event — so the journal fills in a minute or two
# rather than waiting out one fsync per transition for 30,000 transitions.
#
#   bash engine/benches/resume.sh [EVENTS]      (needs hyperfine)
set -euo pipefail
cd "$(dirname "$0")/../.."
events="${1:-100000}"
command -v hyperfine >/dev/null || { echo "install hyperfine first: apt-get install hyperfine" >&2; exit 2; }
cargo build --release --locked -q
bin="$PWD/target/release/ralph-loop"
# RESUME_BENCH_DIR keeps the generated project (for profiling); otherwise it is removed.
if [ -n "${RESUME_BENCH_DIR:-}" ]; then
  work="$RESUME_BENCH_DIR"; rm -rf "$work"; mkdir -p "$work"
else
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fi
cd "$work"
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
cp -a .ralph ralph.orig
# The baseline: a fresh run of the same workflow (`stop` exists: work, gate, done).
hyperfine --warmup 2 --runs 10 --export-json times.json \
  -n fresh "$bin loop --workflow w.yaml" \
  -n resume --prepare "rm -rf .ralph && cp -a ralph.orig .ralph" "$bin resume $run" >/dev/null
# Ready to continue: from starting `resume` to its `resumed` event (journal read and applied,
# the run's state rebuilt, the next step about to start), and for the fresh start to its
# `run_started` event.
python3 - "$bin" "$run" "$journaled" <<'PY'
import json, shutil, statistics, subprocess, sys, time
bin, run, journaled = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ready(argv, event, fresh_copy):
    if fresh_copy:
        shutil.rmtree(".ralph", ignore_errors=True)
        subprocess.run(["cp", "-a", "ralph.orig", ".ralph"], check=True)
    start = time.perf_counter()
    p = subprocess.Popen(argv + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    took = None
    for line in p.stdout:
        if took is None and f'"event":"{event}"' in line:
            took = time.perf_counter() - start
    p.wait()
    return took
resumes, fresh = [], []
for _ in range(10):
    resumes.append(ready([bin, "resume", run], "resumed", True))
    fresh.append(ready([bin, "loop", "--workflow", "w.yaml"], "run_started", False))
r = {x["command"]: x for x in json.load(open("times.json"))["results"]}
f, s = r["fresh"], r["resume"]
print(f"resume of a run with {journaled} journal events (median of 10 runs)")
print(f"  ready to continue: resume {statistics.median(resumes) * 1000:6.1f} ms (max {max(resumes) * 1000:.1f})"
      f"   fresh start {statistics.median(fresh) * 1000:6.1f} ms   (target: resume under 200 ms)")
print(f"  whole command:     resume {s['median'] * 1000:6.1f} ms (max {s['max'] * 1000:.1f})"
      f"   fresh start {f['median'] * 1000:6.1f} ms   ratio {s['median'] / f['median']:.2f}x")
PY
