//! Test counts from the output of test runners whose summary format is known: cargo test /
//! libtest, pytest, Python's unittest, Jest/Vitest, Mocha, Go's `go test -v`, and TAP.
//!
//! Only summary lines are read, and a runner's counts are summed over all its summary lines
//! (cargo prints one per test binary). Output that matches no known format gives `None`: the
//! engine never guesses counts from prose.

use std::sync::LazyLock;

use ralph_plugin_sdk::TestResults;
use regex::Regex;

static CARGO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored").expect("valid")
});
static PYTEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^=+ (.*?\d+ (?:passed|failed|error|errors|skipped).*?) in [\d.]+s(?: \([^)]*\))? =+\s*$")
        .expect("valid")
});
static COUNT_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)").expect("valid"));
static UNITTEST_RAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^Ran (\d+) tests? in [\d.]+s").expect("valid"));
static UNITTEST_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^(OK|FAILED)(?: \(([^)]*)\))?\s*$").expect("valid"));
static JEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*Tests:\s+(.*\d+ total)\s*$").expect("valid"));
static JEST_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d+) (passed|failed|skipped|todo|total)").expect("valid"));
static VITEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*Tests\s+((?:\d+ \w+ \| )*\d+ \w+) \(\d+\)\s*$").expect("valid"));
static MOCHA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*(\d+) (passing|failing|pending)(?: \(|\s*$)").expect("valid"));
static GO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^\s*--- (PASS|FAIL|SKIP): ").expect("valid"));
static TAP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^# (pass|fail|skip|todo)\s+(\d+)\s*$").expect("valid"));

fn n(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

fn skipped(count: u64) -> Option<u64> {
    Some(count)
}

/// The test counts in a test runner's output, when its format is known.
pub fn parse(text: &str) -> Option<TestResults> {
    // Every summary counts something: output without a digit (most steps') has none.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = false;
    let mut r = TestResults { passed: 0, failed: 0, skipped: None };
    for c in CARGO.captures_iter(text) {
        found = true;
        r.passed += n(&c[1]);
        r.failed += n(&c[2]);
        r.skipped = skipped(r.skipped.unwrap_or(0) + n(&c[3]));
    }
    if found {
        return Some(r);
    }
    if let Some(c) = PYTEST.captures_iter(text).last() {
        for part in COUNT_WORD.captures_iter(&c[1]) {
            let count = n(&part[1]);
            match &part[2] {
                "passed" | "xpassed" => r.passed += count,
                "failed" | "error" | "errors" => r.failed += count,
                _ => r.skipped = skipped(r.skipped.unwrap_or(0) + count),
            }
        }
        return Some(r);
    }
    if let (Some(ran), Some(end)) =
        (UNITTEST_RAN.captures_iter(text).last(), UNITTEST_END.captures_iter(text).last())
    {
        let total = n(&ran[1]);
        let details = end.get(2).map_or("", |m| m.as_str());
        let mut failed = 0;
        let mut skip = 0;
        for part in details.split(',') {
            let (key, value) = part.split_once('=').unwrap_or((part, "0"));
            match key.trim() {
                "failures" | "errors" | "unexpected successes" => failed += n(value.trim()),
                "skipped" | "expected failures" => skip += n(value.trim()),
                _ => {}
            }
        }
        r.failed = failed;
        r.skipped = skipped(skip);
        r.passed = total.saturating_sub(failed + skip);
        return Some(r);
    }
    if let Some(c) = JEST.captures_iter(text).last() {
        for part in JEST_PART.captures_iter(&c[1]) {
            let count = n(&part[1]);
            match &part[2] {
                "passed" => r.passed = count,
                "failed" => r.failed = count,
                "skipped" | "todo" => r.skipped = skipped(r.skipped.unwrap_or(0) + count),
                _ => {}
            }
        }
        return Some(r);
    }
    if let Some(c) = VITEST.captures_iter(text).last() {
        for part in c[1].split(" | ") {
            let (count, word) = part.split_once(' ').unwrap_or(("0", ""));
            match word {
                "passed" => r.passed = n(count),
                "failed" => r.failed = n(count),
                "skipped" | "todo" => r.skipped = skipped(r.skipped.unwrap_or(0) + n(count)),
                _ => {}
            }
        }
        return Some(r);
    }
    for c in MOCHA.captures_iter(text) {
        found = true;
        match &c[2] {
            "passing" => r.passed = n(&c[1]),
            "failing" => r.failed = n(&c[1]),
            _ => r.skipped = skipped(n(&c[1])),
        }
    }
    if found {
        return Some(r);
    }
    for c in TAP.captures_iter(text) {
        found = true;
        match &c[1] {
            "pass" => r.passed = n(&c[2]),
            "fail" => r.failed = n(&c[2]),
            _ => r.skipped = skipped(r.skipped.unwrap_or(0) + n(&c[2])),
        }
    }
    if found {
        return Some(r);
    }
    for c in GO.captures_iter(text) {
        found = true;
        match &c[1] {
            "PASS" => r.passed += 1,
            "FAIL" => r.failed += 1,
            _ => r.skipped = skipped(r.skipped.unwrap_or(0) + 1),
        }
    }
    found.then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str) -> Option<(u64, u64, Option<u64>)> {
        parse(text).map(|r| (r.passed, r.failed, r.skipped))
    }

    #[test]
    fn cargo_sums_every_test_binary() {
        let text = "running 3 tests\ntest a ... ok\n\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\ntest result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s\n";
        assert_eq!(counts(text), Some((13, 2, Some(1))));
    }

    #[test]
    fn pytest_summary_line() {
        assert_eq!(
            counts("collected 9 items\n\n===== 1 failed, 7 passed, 1 skipped in 0.12s =====\n"),
            Some((7, 1, Some(1)))
        );
        assert_eq!(
            counts("============================== 14 passed in 0.03s ==============================\n"),
            Some((14, 0, None))
        );
        assert_eq!(counts("=== 2 passed, 1 error in 1.50s (0:00:01) ===\n"), Some((2, 1, None)));
    }

    #[test]
    fn unittest_ran_and_verdict() {
        let ok = "....\n----------------------------------------------------------------------\nRan 4 tests in 0.001s\n\nOK\n";
        assert_eq!(counts(ok), Some((4, 0, Some(0))));
        let failed = "Ran 10 tests in 0.020s\n\nFAILED (failures=2, errors=1, skipped=3)\n";
        assert_eq!(counts(failed), Some((4, 3, Some(3))));
    }

    #[test]
    fn jest_vitest_and_mocha() {
        assert_eq!(counts("Tests:       1 failed, 2 skipped, 13 passed, 16 total\n"), Some((13, 1, Some(2))));
        assert_eq!(
            counts(" Test Files  1 passed (1)\n      Tests  3 failed | 40 passed (43)\n"),
            Some((40, 3, None))
        );
        assert_eq!(counts("\n  12 passing (30ms)\n  2 failing\n"), Some((12, 2, None)));
    }

    #[test]
    fn go_verbose_and_tap() {
        let go = "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n--- FAIL: TestB (0.00s)\n    --- PASS: TestB/sub (0.00s)\nFAIL\n";
        assert_eq!(counts(go), Some((2, 1, None)));
        assert_eq!(
            counts("1..3\nok 1\nok 2\nnot ok 3\n# tests 3\n# pass  2\n# fail  1\n"),
            Some((2, 1, None))
        );
    }

    #[test]
    fn prose_is_not_counted() {
        assert_eq!(counts("All 14 tests passed, I think. 3 passed the review."), None);
        assert_eq!(counts(""), None);
    }
}
