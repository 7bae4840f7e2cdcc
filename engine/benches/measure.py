"""Helpers the benches share: one timed run with its peak RSS, and checks that a run did all its
work (a benchmark of a failing run is worse than none)."""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time


class Run:
    """One finished command: wall time (s), peak RSS (KiB), exit status, where its output went."""

    def __init__(self, wall, rss, status, out, err):
        self.wall, self.rss, self.status, self.out, self.err = wall, rss, status, out, err


def timed(argv, cwd, logs, name, env=None):
    """Run `argv` in `cwd` under GNU time (`/usr/bin/time -f %M`: the peak RSS in KiB), stdout and
    stderr to files in `logs` (outside the work tree). The wall time is taken around the whole
    command here; GNU time itself adds a fork and an exec, the same for every tool."""
    os.makedirs(logs, exist_ok=True)
    out, err, rssf = (os.path.join(logs, f"{name}.{x}") for x in ("out", "err", "rss"))
    with open(out, "wb") as o, open(err, "wb") as e:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rssf, *argv], cwd=cwd, stdout=o, stderr=e,
                           stdin=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - start
    return Run(wall, read_rss(rssf), p.returncode, out, err)


def read_rss(path):
    """The %M that GNU time wrote (its last line; a line about a signal or an exit status may precede it)."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return None


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def fail(what, run=None, extra=""):
    msg = f"\nBENCH INVALID: {what}\n"
    if run is not None:
        msg += f"  exit status {run.status}\n  stdout tail:\n{tail(run.out)}\n  stderr tail:\n{tail(run.err)}\n"
    sys.exit(msg + extra)


def fresh(project, *paths):
    """Remove what a previous run left in the work tree (`.ralph/`, `.ninja_log`, a database)."""
    for p in paths:
        full = os.path.join(project, p)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        elif os.path.lexists(full):
            os.remove(full)


def check_ralph(bin, project, run, steps):
    """The run exited 0, and `ralph-loop runs --json` says its newest run succeeded with `steps`
    steps finished and none failed. Returns the run's record."""
    if run.status != 0:
        fail(f"ralph-loop exited with {run.status}", run)
    p = subprocess.run([bin, "runs", "--json", "--limit", "1"], cwd=project, capture_output=True, text=True)
    try:
        record = json.loads(p.stdout)["runs"][0]
    except (ValueError, KeyError, IndexError):
        fail("`ralph-loop runs --json` gave no run", run, p.stdout[-2000:] + p.stderr[-2000:])
    if record.get("status") != "succeeded":
        fail(f"the run's status is {record.get('status')!r}: {record.get('reason')}", run)
    finished = record.get("steps_finished")
    if finished is None:
        fail("`runs --json` has no steps_finished: update measure.check_ralph to the new output", run,
             json.dumps(record))
    if finished != steps or record.get("steps_failed", 0) != 0:
        fail(f"{finished} steps finished ({record.get('steps_failed')} failed), {steps} expected", run)
    return record


STATUS = re.compile(rb"^\[(\d+)/(\d+)\] ", re.M)


def check_ninja(run, edges):
    """ninja exited 0 and printed a status line for each of `edges` edges (outputs never exist,
    so every edge runs on every build)."""
    if run.status != 0:
        fail(f"ninja exited with {run.status}", run)
    with open(run.out, "rb") as f:
        lines = STATUS.findall(f.read())
    if len(lines) != edges or (lines and int(lines[-1][0]) != edges):
        fail(f"ninja ran {len(lines)} edges, {edges} expected", run)


def median(xs):
    return statistics.median(xs)


def mib(kib):
    return "?" if kib is None else f"{kib / 1024:.1f} MiB"


def load():
    """The machine's load average (1, 5, 15 min): other work on a shared machine shows here."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
