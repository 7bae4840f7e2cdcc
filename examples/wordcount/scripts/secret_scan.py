"""A secret scan: fails when a tracked source file holds something that looks like a credential."""

import pathlib
import re
import sys

PATTERNS = {
    "AWS access key id": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "Slack token": re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"),
    "generic secret assignment": re.compile(
        r"(?i)(api_key|secret|password)\s*=\s*['\"][^'\"]{12,}['\"]"
    ),
}
SKIP = {".git", ".ralph", "dist", "__pycache__"}


def scan(root):
    for path in sorted(pathlib.Path(root).rglob("*")):
        if not path.is_file() or SKIP.intersection(path.parts) or path.name == "secret_scan.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for name, pattern in PATTERNS.items():
                if pattern.search(line):
                    yield f"{path}:{number}: {name}"


def main(root):
    findings = list(scan(root))
    for finding in findings:
        print(finding)
    print(f"secret scan: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
