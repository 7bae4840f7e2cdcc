"""Command line: `python3 -m wordcount [FILE...]`, or the built `wordcount.pyz`."""

import sys

from wordcount import count, format_counts


def main(argv):
    if not argv:
        print(format_counts(count(sys.stdin.read())))
        return 0
    totals = [0, 0, 0]
    for path in argv:
        try:
            with open(path, encoding="utf-8") as handle:
                counts = count(handle.read())
        except OSError as error:
            print(f"wordcount: {path}: {error.strerror}", file=sys.stderr)
            return 1
        totals = [a + b for a, b in zip(totals, counts)]
        print(format_counts(counts, path))
    if len(argv) > 1:
        print(format_counts(totals, "total"))
    return 0


def run():
    """Entry point of the built archive."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()
