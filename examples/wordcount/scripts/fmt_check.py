"""A format check: no tabs, no trailing spaces, a final newline, lines of at most 100 characters."""

import pathlib
import sys


def problems(path):
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        yield f"{path}: no newline at the end of the file"
    for number, line in enumerate(text.splitlines(), 1):
        if "\t" in line:
            yield f"{path}:{number}: tab character"
        if line != line.rstrip():
            yield f"{path}:{number}: trailing whitespace"
        if len(line) > 100:
            yield f"{path}:{number}: line longer than 100 characters"


def main(roots):
    files = [f for root in roots for f in sorted(pathlib.Path(root).rglob("*.py"))]
    found = [problem for f in files for problem in problems(f)]
    for problem in found:
        print(problem)
    print(f"format check: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["."]))
