"""Counts lines, words and characters, like `wc`, for text given on stdin or in files."""


def count(text):
    """Return (lines, words, characters) of `text`."""
    return text.count("\n"), len(text.split()), len(text)


def format_counts(counts, name=None):
    """Format counts the way `wc` prints them."""
    line = " ".join(str(n) for n in counts)
    return f"{line} {name}" if name else line
