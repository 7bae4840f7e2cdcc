#!/usr/bin/env bash
# Resume speed: how long `ralph-loop resume` takes on a run whose journal holds ~100,000 events,
# against the same workflow started fresh (the baseline: everything a loop does before its first
# step, without a journal to read). Both finish almost at once — the workflow's last state ends
# the run — so the times are "ready to continue" plus one or two `true` steps and the final
# fsync.
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
python3 - "$journaled" <<'PY'
import json, sys
journaled = int(sys.argv[1])
r = {x["command"]: x for x in json.load(open("times.json"))["results"]}
f, s = r["fresh"], r["resume"]
print(f"resume of a run with {journaled} journal events (median of 10 runs)")
print(f"  fresh start   {f['median'] * 1000:7.1f} ms")
print(f"  resume        {s['median'] * 1000:7.1f} ms   (max {s['max'] * 1000:.1f} ms)")
print(f"  ratio         {s['median'] / f['median']:7.2f}x a fresh start (target: resume under 200 ms)")
PY
