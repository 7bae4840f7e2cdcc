#!/usr/bin/env bash
# A durable chain against ninja's chain and LangGraph's, inside a git work tree: STEPS steps, step
# i depending on step i-1, each running `sh -c true`, measured side by side in one run:
#   ralph-loop  a DAG of STEPS nodes, node i `depends_on: [n{i-1}]`, a command agent whose command
#               is `sh -c true` (run as `/usr/bin/sh -c true`: a command without shell syntax is
#               executed directly), every event journaled to sled in .ralph/ (removed before each run);
#   ninja       `build n{i}: t n{i-1}` with `command = true`, which ninja runs as `/bin/sh -c true`;
#               the outputs are never created, so every edge runs on every build;
#   LangGraph   1.x, a StateGraph of STEPS nodes in a line, each doing
#               `subprocess.run(["sh", "-c", "true"])`, compiled with the SQLite checkpointer
#               (`SqliteSaver`) on a file in the work tree (removed before each run), one thread
#               id, recursion_limit raised to fit, LangGraph's default durability.
# All three run in the same project directory, a git work tree of 2,000 tracked files with
# untracked files lying around, two modified files and `.ralph/` not in .gitignore
# (engine/benches/worktree.py). Each wall time is the whole process, start-up included (for
# LangGraph, Python's start and imports too; its `invoke` alone is shown beside it).
# Prints the median wall times, the ratios ralph/ninja and ralph/LangGraph (medians of the
# rounds' ratios), and each tool's peak RSS (GNU time's %M). Target: at most 1.25x ninja's chain.
#
# With strace installed, a 3-step chain of each tool is traced first and the processes each
# spawns per step are printed: all three must spawn one `sh -c true` per step.
# The tools run in interleaved rounds (ninja, ralph-loop, LangGraph, …), after a warm-up of each;
# every run is checked: exit status 0, every step finished (`ralph-loop runs --json`; ninja's
# status lines; LangGraph's final state and one checkpoint per step in the database).
#
#   bash engine/benches/chain_vs_ninja.sh [STEPS] [ROUNDS]      (defaults: 1000 steps, 5 rounds)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
#   BENCH_LANGGRAPH=0              leave LangGraph out
#   LANGGRAPH_VENV=DIR             the virtualenv holding LangGraph (default: a cache directory,
#                                  ~/.cache/ralph-loop-bench/langgraph-venv, made on first use with
#                                  pip install 'langgraph>=1,<2' langgraph-checkpoint-sqlite)
#   LANGGRAPH_DURABILITY=sync|async|exit   override LangGraph's default durability
#
# Needs ninja-build and GNU time (apt-get install ninja-build time), and python3 with venv.
set -euo pipefail
source "$(dirname "$0")/common.sh"
steps="${1:-1000}"
rounds="${2:-5}"
needs ninja git python3
bin="$(ralph_bin)"
lg_python=""
if [ "${BENCH_LANGGRAPH:-1}" != 0 ]; then
  venv="${LANGGRAPH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ralph-loop-bench/langgraph-venv}"
  if ! "$venv/bin/python" -c 'import langgraph.checkpoint.sqlite' 2>/dev/null; then
    echo "installing LangGraph into $venv" >&2
    mkdir -p "$(dirname "$venv")"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'langgraph>=1,<2' langgraph-checkpoint-sqlite; } >&2; then
      echo "LangGraph could not be installed: it is left out (BENCH_LANGGRAPH=0 to skip the attempt)" >&2
      venv=""
    fi
  fi
  [ -n "$venv" ] && lg_python="$venv/bin/python"
fi
bench_tmp
project="$work/project"
make_worktree "$project"
cat > "$work/langgraph_chain.py" <<'PY'
# A linear LangGraph of N nodes, each running `sh -c true`, checkpointed to SQLite.
import json, os, subprocess, sys, time
from typing import TypedDict
from langgraph.graph import StateGraph, START, END
from langgraph.checkpoint.sqlite import SqliteSaver

n, db = int(sys.argv[1]), sys.argv[2]

class State(TypedDict):
    i: int

def step(state: State) -> dict:
    subprocess.run(["sh", "-c", "true"], check=True)
    return {"i": state["i"] + 1}

graph = StateGraph(State)
for k in range(n):
    graph.add_node(f"n{k}", step)
graph.add_edge(START, "n0")
for k in range(1, n):
    graph.add_edge(f"n{k - 1}", f"n{k}")
graph.add_edge(f"n{n - 1}", END)
extra = {"durability": os.environ["LANGGRAPH_DURABILITY"]} if os.environ.get("LANGGRAPH_DURABILITY") else {}
with SqliteSaver.from_conn_string(db) as saver:
    app = graph.compile(checkpointer=saver)
    start = time.perf_counter()
    out = app.invoke({"i": 0}, {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 10}, **extra)
    took = time.perf_counter() - start
print(json.dumps({"i": out["i"], "invoke_s": took}))
PY
python3 - "$project" "$steps" <<'PY'
import sys
project, n = sys.argv[1], int(sys.argv[2])
def write(name, count):
    with open(f"{project}/{name}.yaml", "w") as f:
        f.write("workflow:\n  type: dag\n  nodes:\n")
        for i in range(count):
            f.write(f"    - id: n{i}\n      agent: t\n")
            if i:
                f.write(f"      depends_on: [n{i - 1}]\n")
        f.write('agents:\n  t:\n    backend: command\n    command: "sh -c true"\n')
    with open(f"{project}/{name}.ninja", "w") as f:
        f.write("rule t\n  command = true\n")
        for i in range(count):
            f.write(f"build n{i}: t" + (f" n{i - 1}" if i else "") + "\n")
write("chain", n)
write("warmup", 3)
PY
python3 - "$bin" "$project" "$work" "$steps" "$rounds" "$lg_python" <<'PY'
import json, os, shutil, sqlite3, subprocess, sys
from measure import load, timed, check_ralph, check_ninja, fail, fresh, median, mib
bin, project, work, steps, rounds, lg = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
logs = os.path.join(work, "logs")
lg_script = os.path.join(work, "langgraph_chain.py")
db = os.path.join(project, "checkpoints.sqlite")
tracked = subprocess.run(["git", "ls-files", "-z"], cwd=project, capture_output=True).stdout.count(b"\0")

def ninja_argv(name): return ["ninja", "-j2", "-f", f"{name}.ninja"]
def ralph_argv(name): return [bin, "loop", "--workflow", f"{name}.yaml", "--jobs", "2"]
def lg_argv(n): return [lg, lg_script, str(n), db]

def ninja(name, n, tag):
    fresh(project, ".ninja_log", ".ninja_deps")
    r = timed(ninja_argv(name), project, logs, tag)
    check_ninja(r, n)
    return r

def ralph(name, n, tag):
    fresh(project, ".ralph")
    r = timed(ralph_argv(name), project, logs, tag)
    check_ralph(bin, project, r, n)
    return r

def langgraph(n, tag):
    fresh(project, *(os.path.basename(db) + s for s in ("", "-wal", "-shm")))
    r = timed(lg_argv(n), project, logs, tag)
    if r.status != 0:
        fail(f"LangGraph exited with {r.status}", r)
    with open(r.out) as f:
        res = json.loads(f.read().strip().splitlines()[-1])
    with sqlite3.connect(db) as c:
        cps = c.execute("select count(*) from checkpoints where thread_id = 'bench'").fetchone()[0]
    if res["i"] != n or cps < n:
        fail(f"LangGraph ran {res['i']} of {n} steps, {cps} checkpoints", r)
    r.invoke = res["invoke_s"]
    return r

def spawned(argv, name):
    """The processes a tool spawns for a 3-step chain, from strace: each execve that succeeded,
    other than the tool itself, git and Python's own start-up."""
    trace = os.path.join(logs, f"strace-{name}")
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, *argv], cwd=project,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    seen = []
    for line in open(trace):
        if "execve(" in line and line.rstrip().endswith("= 0"):
            args = line.split("[", 1)[1].split("]", 1)[0]
            seen.append(args)
    return [a for a in seen[1:] if '"git"' not in a and "ralph" not in a]

os.makedirs(logs, exist_ok=True)
print(f"a {steps}-step chain, each step `sh -c true`, inside a git work tree of {tracked} tracked files")
print(f"  (untracked files lying around, two modified files, .ralph/ not in .gitignore; {rounds} interleaved rounds)")
print(f"  ralph-loop: {bin}; {load()} at the start")
if lg:
    v = subprocess.run([lg, "-c", "import importlib.metadata as m; print(m.version('langgraph'), m.version('langgraph-checkpoint-sqlite'))"],
                       capture_output=True, text=True).stdout.split()
    print(f"  LangGraph {v[0]} with langgraph-checkpoint-sqlite {v[1]}, durability "
          f"{os.environ.get('LANGGRAPH_DURABILITY') or 'default'}")
else:
    print("  LangGraph: left out")
if shutil.which("strace"):
    for tool, argv in (("ninja", ninja_argv("warmup")), ("ralph-loop", ralph_argv("warmup")),
                       *((("LangGraph", lg_argv(3)),) if lg else ())):
        fresh(project, ".ralph", ".ninja_log", os.path.basename(db), os.path.basename(db) + "-wal")
        s = spawned(argv, tool)
        print(f"  {tool} spawns for 3 steps: {len(s)} processes: {sorted(set(s))}")
        if len(s) != 3:
            fail(f"{tool} spawned {len(s)} processes for 3 steps, not one `sh -c true` each")
sys.stdout.flush()
ninja("warmup", 3, "warmup-ninja")
ralph("warmup", 3, "warmup-ralph")
if lg:
    langgraph(3, "warmup-langgraph")
rows = []
for k in range(rounds):
    n = ninja("chain", steps, f"ninja-{k}")
    r = ralph("chain", steps, f"ralph-{k}")
    g = langgraph(steps, f"langgraph-{k}") if lg else None
    rows.append((n, r, g))
    line = f"  round {k + 1}: ninja {n.wall:6.2f} s   ralph-loop {r.wall:6.2f} s"
    if g:
        line += f"   LangGraph {g.wall:6.2f} s (invoke {g.invoke:.2f} s)"
    print(line, flush=True)
nw, rw = median([n.wall for n, _, _ in rows]), median([r.wall for _, r, _ in rows])
print(f"  ninja       {nw:7.2f} s (median)   peak RSS {mib(max(n.rss for n, _, _ in rows))}")
print(f"  ralph-loop  {rw:7.2f} s (median)   peak RSS {mib(max(r.rss for _, r, _ in rows))}   (target: at most 100 MiB)")
if lg:
    gw, gi = median([g.wall for _, _, g in rows]), median([g.invoke for _, _, g in rows])
    print(f"  LangGraph   {gw:7.2f} s (median; invoke alone {gi:.2f} s)   peak RSS {mib(max(g.rss for _, _, g in rows))}")
ratios = sorted(r.wall / n.wall for n, r, _ in rows)
print(f"  ralph-loop / ninja       {median(ratios):6.2f}x, median of the rounds (range {ratios[0]:.2f}-{ratios[-1]:.2f}; target: at most 1.25x)")
if lg:
    ratios = sorted(r.wall / g.wall for _, r, g in rows)
    print(f"  ralph-loop / LangGraph   {median(ratios):6.2f}x, median of the rounds (range {ratios[0]:.2f}-{ratios[-1]:.2f})")
print(f"  ({load()} at the end)")
PY
