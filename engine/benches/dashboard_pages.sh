#!/usr/bin/env bash
# What open dashboard pages cost a loop: a 1,000-node DAG of `true` (ten chains of 100, `--jobs 2`)
# with no dashboard, against the same DAG with `ralph-loop dashboard --serve` running and ten
# pages open on it, each behaving as the page does: following /api/events and, after events,
# reading /api/status at most every 300 ms. Target (issue 16): less than 5% added.
#
# Runs in a git work tree like the other benches (engine/benches/worktree.py), interleaved
# (none, pages, none, …) after a warm-up of each; each ratio is the median of the rounds' ratios.
# The dashboard and its pages start before each "pages" run and stop after it. The loop's CPU time
# (user + system, its agents included) is printed beside its wall time.
#
#   bash engine/benches/dashboard_pages.sh [NODES] [ROUNDS] [PAGES]   (defaults: 1000 nodes, 9 rounds, 10 pages)
#   RALPH_BIN=path/to/ralph-loop   the binary to measure (else builds target/release)
set -euo pipefail
source "$(dirname "$0")/common.sh"
nodes="${1:-1000}"
rounds="${2:-9}"
pages="${3:-10}"
needs git python3
bin="$(ralph_bin)"
bench_tmp
project="$work/project"
make_worktree "$project"
python3 - "$project" "$nodes" "$rounds" "$pages" "$bin" <<'PY'
import http.client, os, shutil, statistics, subprocess, sys, threading, time
project, nodes, rounds, pages, bin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.chdir(project)

dag = "workflow:\n  type: dag\n  nodes:\n"
for i in range(nodes):
    dag += f"    - id: n{i}\n      agent: t\n"
    if i >= 10:
        dag += f"      depends_on: [n{i - 10}]\n"
dag += 'agents:\n  t:\n    command: "true"\n'
with open("pages.yaml", "w") as f:
    f.write(dag)

class Page:
    """A page: the live feed read as it comes, and /api/status read after events, at most
    every 300 ms, as app.js does."""
    def __init__(self, port):
        self.port, self.stop, self.events, self.reads = port, False, 0, 0
        self.opened = threading.Event()
        self.last_read = 0.0
        threading.Thread(target=self.follow, daemon=True).start()

    def follow(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request("GET", "/api/events")
        response = conn.getresponse()
        self.opened.set()
        status = http.client.HTTPConnection("127.0.0.1", self.port)
        # Read as the frames come (whatever has arrived, not line by line: the bench measures
        # the dashboard and the loop, not Python's line splitting); frames split across reads
        # are counted once the rest arrives.
        tail = b""
        while not self.stop:
            chunk = response.fp.read1(65536)
            if not chunk:
                return
            data = tail + chunk
            cut = data.rfind(b"\n\n") + 2 if b"\n\n" in data else 0
            whole, tail = data[:cut], data[cut:]
            n = whole.count(b"event: event\n")
            if n:
                self.events += n
                now = time.monotonic()
                if now - self.last_read >= 0.3:
                    self.last_read = now
                    status.request("GET", "/api/status")
                    status.getresponse().read()
                    self.reads += 1

def run(name):
    """The loop's wall time and CPU time."""
    shutil.rmtree(".ralph", ignore_errors=True)
    server, open_pages = None, []
    if name == "pages":
        server = subprocess.Popen([bin, "dashboard", "--serve", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        line = server.stderr.readline()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        open_pages = [Page(port) for _ in range(pages)]
        for page in open_pages:
            page.opened.wait(10)
    start = time.perf_counter()
    clients = time.process_time()
    loop = subprocess.Popen([bin, "loop", "--workflow", "pages.yaml", "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = loop.stderr.read()
    _, status, usage = os.wait4(loop.pid, 0)
    took = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or "every node finished" not in stderr:
        sys.exit(f"BENCH INVALID: {name}: exit {code}\n{stderr[-2000:]}")
    if server:
        pages_cpu.append(time.process_time() - clients)
        # The feed reached the pages: each saw the run's events.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and min(p.events for p in open_pages) < nodes:
            time.sleep(0.05)
        seen = [p.events for p in open_pages]
        reads.append(sum(p.reads for p in open_pages))
        for page in open_pages:
            page.stop = True
        # The dashboard's own CPU time (user + system), from /proc before it is stopped.
        fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
        served_cpu.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        server.kill()
        server.wait()
        if min(seen) < nodes:
            sys.exit(f"BENCH INVALID: a page saw {min(seen)} events of a {nodes}-node run")
    cpu[name].append(usage.ru_utime + usage.ru_stime)
    return took

names = ("none", "pages")
cpu, reads, served_cpu, pages_cpu = {n: [] for n in names}, [], [], []
for name in names:  # warm-up
    run(name)
cpu, reads, served_cpu, pages_cpu = {n: [] for n in names}, [], [], []
walls = {n: [] for n in names}
for _ in range(rounds):
    for name in names:
        walls[name].append(run(name))
print(f"{nodes}-node DAG of `true` (--jobs 2) in a git work tree, {pages} dashboard pages open ({rounds} interleaved rounds, load {os.getloadavg()[0]:.2f}); the pages read /api/status {statistics.median(reads):.0f} times a run (median)")
for name in names:
    w, c = walls[name], cpu[name]
    print(f"  {name:<6} wall median {statistics.median(w):6.3f} s (min {min(w):.3f}, max {max(w):.3f}); loop CPU median {statistics.median(c):6.3f} s")
ratios = sorted(a / b for a, b in zip(walls["pages"], walls["none"]))
cpus = sorted(a / b for a, b in zip(cpu["pages"], cpu["none"]))
print(f"  beside the loop: the dashboard process {statistics.median(served_cpu):.3f} s CPU, the {pages} page clients (this script) {statistics.median(pages_cpu):.3f} s CPU (medians; both share the loop's two cores)")
print(f"  pages / none  wall {statistics.median(ratios):6.3f}x, median of the rounds (range {ratios[0]:.3f}-{ratios[-1]:.3f}; target: under 1.05x); loop CPU {statistics.median(cpus):6.3f}x")
PY
