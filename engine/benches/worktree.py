#!/usr/bin/env python3
"""The project directory the benches run in, made the way users have theirs: a git work tree.

    python3 engine/benches/worktree.py DIR [--files 2000] [--untracked 48]

makes DIR (which must not exist or be empty) a git repository with FILES tracked files in a
nested source tree (Rust, Python, TypeScript, Go, Markdown, JSON and YAML files of varied sizes,
from a few hundred bytes to a few hundred KiB), committed in two commits; then leaves UNTRACKED
files lying around (build outputs, logs, notes, scratch files), not ignored, and two tracked
files modified and not staged. `.gitignore` ignores a few editor and cache patterns but not
`.ralph/`: the engine's state directory shows in `git status`, as it does for a user who never
added it. The tree is the same on every call (a fixed seed). Nothing else is configured: git's
defaults, no ralph.yaml.

Every file's modification time is set an hour back before it is added, so the index holds no
"racily clean" entries that git would re-read on every `git status` (a tree a user has worked
in for a while has none either), and the index is refreshed once at the end.

Prints one line describing the tree. The benches call it; it can be run alone to look at the
tree (`git -C DIR status --short | head`).
"""
import argparse
import os
import random
import subprocess
import sys
import time

SEED = 13

WORDS = ("index journal store event step node plan graph queue worker task agent packet snapshot "
         "signal budget ledger retry backoff breaker timeout limit parser token buffer frame "
         "record cursor batch commit branch config schema value field path span metric").split()

EXT = {  # extension: (weight, comment prefix, line makers)
    "rs": (30, "//"),
    "py": (18, "#"),
    "ts": (16, "//"),
    "go": (10, "//"),
    "md": (10, None),
    "json": (6, None),
    "yaml": (6, "#"),
    "toml": (4, "#"),
}


def ident(rng):
    return "_".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def camel(rng):
    return "".join(w.capitalize() for w in ident(rng).split("_"))


def body(rng, ext, size):
    """About `size` bytes of text that looks like a file of that kind."""
    out, n = [], 0
    while n < size:
        a, b, c = ident(rng), ident(rng), camel(rng)
        if ext == "rs":
            chunk = (f"/// Returns the {a} of a {b}.\npub fn {a}(x: &{c}) -> Option<usize> {{\n"
                     f"    let {b} = x.{a}.len();\n    if {b} > {rng.randint(1, 999)} {{\n"
                     f"        return None;\n    }}\n    Some({b} + {rng.randint(0, 99)})\n}}\n\n")
        elif ext == "py":
            chunk = (f"def {a}({b}):\n    \"\"\"The {a} of {b}.\"\"\"\n    if {b} is None:\n"
                     f"        return {rng.randint(0, 99)}\n    return len({b}) * {rng.randint(1, 9)}\n\n\n")
        elif ext == "ts":
            chunk = (f"export function {c}({b}: number): string {{\n  const {a} = {b} * {rng.randint(1, 99)};\n"
                     f"  return `{a}:${{{a}}}`;\n}}\n\n")
        elif ext == "go":
            chunk = (f"// {c} returns the {a}.\nfunc {c}({b} int) (int, error) {{\n"
                     f"\tif {b} < {rng.randint(0, 9)} {{\n\t\treturn 0, errors.New(\"{a}\")\n\t}}\n"
                     f"\treturn {b} * {rng.randint(1, 9)}, nil\n}}\n\n")
        elif ext == "md":
            chunk = (f"## {c}\n\nThe {a} keeps the {b} until the {ident(rng)} is done; "
                     f"see `{a}()` and the {ident(rng)}.\n\n- {b}\n- {ident(rng)}\n\n")
        elif ext == "json":
            chunk = f'  "{a}": {{"{b}": {rng.randint(0, 99999)}, "name": "{c}"}},\n'
        elif ext == "yaml":
            chunk = f"{a}:\n  {b}: {rng.randint(0, 999)}\n  name: {c}\n"
        else:  # toml
            chunk = f"[{a}]\n{b} = {rng.randint(0, 999)}\nname = \"{c}\"\n\n"
        out.append(chunk)
        n += len(chunk)
    text = "".join(out)
    if ext == "json":
        text = "{\n" + text + '  "end": null\n}\n'
    return text


def size_of(rng):
    # Log-normal around 2 KiB, most between 300 B and 15 KiB, a few of 100-300 KiB.
    if rng.random() < 0.005:
        return rng.randint(100_000, 300_000)
    return int(min(max(rng.lognormvariate(7.6, 1.0), 120), 64_000))


def tracked_paths(rng, count):
    """`count` distinct paths in a nested tree: a few top-level areas, packages, sub-modules."""
    areas = ["engine/src", "engine/tests", "services/api/src", "services/worker/src", "web/src/components",
             "web/src/pages", "tools", "docs", "crates/core/src", "crates/cli/src", "scripts", "config"]
    dirs = []
    for area in areas:
        for _ in range(rng.randint(3, 9)):
            d = f"{area}/{ident(rng)}"
            dirs.append(d)
            for _ in range(rng.randint(0, 3)):
                dd = f"{d}/{ident(rng)}"
                dirs.append(dd)
                if rng.random() < 0.3:
                    dirs.append(f"{dd}/{ident(rng)}")
    exts = [e for e, (w, _) in EXT.items() for _ in range(w)]
    paths = {"README.md": "md", "Cargo.toml": "toml", "package.json": "json", "pyproject.toml": "toml"}
    while len(paths) < count:
        d = rng.choice(dirs)
        ext = "md" if d.startswith("docs") else rng.choice(exts)
        paths.setdefault(f"{d}/{ident(rng)}.{ext}", ext)
    return dict(list(paths.items())[:max(count, 0)])


def git(dir, *args):
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-01-01T12:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T12:00:00Z"}
    subprocess.run(["git", "-C", dir, "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid",
                    "-c", "commit.gpgsign=false", *args], check=True, stdout=subprocess.DEVNULL, env=env)


def write(dir, path, text, mtime):
    full = os.path.join(dir, path)
    os.makedirs(os.path.dirname(full) or dir, exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.utime(full, (mtime, mtime))


def make(dir, files=2000, untracked=48):
    rng = random.Random(SEED)
    os.makedirs(dir, exist_ok=True)
    if os.listdir(dir):
        sys.exit(f"worktree.py: {dir} is not empty")
    subprocess.run(["git", "init", "-q", dir], check=True)
    old = time.time() - 3600
    # .gitignore: some patterns, .ralph/ not among them. It counts as one of the tracked files.
    paths = tracked_paths(rng, files - 1)
    write(dir, ".gitignore", "*.swp\n*~\n__pycache__/\n*.pyc\n/node_modules/\n", old)
    total = 0
    for path, ext in sorted(paths.items()):
        text = body(rng, ext, size_of(rng))
        total += len(text)
        write(dir, path, text, old)
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "Initial import")
    # A second commit touching some files: a history, not a single snapshot.
    for path in rng.sample(sorted(paths), min(40, len(paths))):
        write(dir, path, body(rng, paths[path], size_of(rng)), old + 60)
    git(dir, "commit", "-q", "-a", "--allow-empty", "-m", "Second commit")
    # Untracked, not ignored: build outputs, logs, notes, scratch files.
    kinds = [("build/out/obj/{}.o", 40_000), ("build/out/{}.d", 800), ("logs/{}.log", 5_000),
             ("scratch/{}.txt", 1_000), ("{}.patch", 3_000)]
    made = 0
    while made < untracked - 2:
        pattern, size = kinds[made % len(kinds)]
        path = pattern.format(f"{ident(rng)}{made}")
        write(dir, path, body(rng, "md", rng.randint(size // 4, size)), old)
        made += 1
    write(dir, "notes.local", "db password: hunter2 (local only)\n", old)
    write(dir, "TODO.scratch.md", "- look at the ledger\n", old)
    made += 2
    # Two tracked files modified, not staged.
    dirty = [p for p in sorted(paths) if paths[p] in ("rs", "py")][:2]
    for path in dirty:
        with open(os.path.join(dir, path), "a") as f:
            f.write("\n// work in progress\n")
        os.utime(os.path.join(dir, path), (old + 120, old + 120))
    subprocess.run(["git", "-C", dir, "update-index", "-q", "--refresh"], stdout=subprocess.DEVNULL)
    subprocess.run(["git", "-C", dir, "status", "--porcelain"], check=True, stdout=subprocess.DEVNULL)
    n = int(subprocess.run(["git", "-C", dir, "ls-files", "-z"], check=True, capture_output=True).stdout.count(b"\0"))
    if n != files:
        sys.exit(f"worktree.py: {n} files tracked, {files} asked")
    return {"tracked": n, "bytes": total, "untracked": made, "dirty": len(dirty)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--untracked", type=int, default=48)
    a = p.parse_args()
    s = make(a.dir, a.files, a.untracked)
    print(f"git work tree {a.dir}: {s['tracked']} tracked files ({s['bytes'] / 2**20:.1f} MiB, 2 commits), "
          f"{s['untracked']} untracked files, {s['dirty']} tracked files modified; .ralph/ not ignored")


if __name__ == "__main__":
    main()
