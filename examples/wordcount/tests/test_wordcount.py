import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wordcount import count, format_counts  # noqa: E402


class CountTest(unittest.TestCase):
    def test_counts_lines_words_and_characters(self):
        self.assertEqual(count("a b\nc\n"), (2, 3, 6))

    def test_empty_text_counts_nothing(self):
        self.assertEqual(count(""), (0, 0, 0))

    def test_text_without_a_final_newline_has_no_last_line(self):
        self.assertEqual(count("one two"), (0, 2, 7))

    def test_format_matches_wc(self):
        self.assertEqual(format_counts((1, 2, 3), "f.txt"), "1 2 3 f.txt")


class CommandLineTest(unittest.TestCase):
    def run_cli(self, *args, stdin=""):
        root = os.path.join(os.path.dirname(__file__), "..")
        return subprocess.run(
            [sys.executable, "-m", "wordcount", *args],
            input=stdin, capture_output=True, text=True, cwd=root, check=False,
        )

    def test_reads_stdin(self):
        self.assertEqual(self.run_cli(stdin="x y z\n").stdout, "1 3 6\n")

    def test_a_missing_file_is_an_error(self):
        result = self.run_cli("no-such-file")
        self.assertEqual(result.returncode, 1)
        self.assertIn("no-such-file", result.stderr)


if __name__ == "__main__":
    unittest.main()
