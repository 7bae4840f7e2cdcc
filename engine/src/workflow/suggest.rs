//! "Did you mean": the closest known name to a misspelt one.

/// The known name closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    let length = lower.chars().count();
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        if candidate == name {
            continue;
        }
        let folded = candidate.to_lowercase();
        let other = folded.chars().count();
        let similarity = || if folded == lower { 1.0 } else { strsim::jaro_winkler(&lower, &folded) };
        // Short names are close only by one edit, a swap counting as one (`tpye` → `type`, but
        // not `base` → `name`); longer ones by similarity or two or three edits.
        let shortest = length.min(other);
        // A name cut short (`plan` for `planning`) is close too.
        let prefix = length >= 3 && folded.starts_with(&lower);
        let most_edits = if shortest <= 4 {
            1
        } else if shortest >= 8 {
            3
        } else {
            2
        };
        // The edit distance is at least the difference in length: past the most edits that
        // count, it is not computed (a file of thousands of unknown keys asks this for each).
        let within = || {
            length.abs_diff(other) <= most_edits && strsim::damerau_levenshtein(&lower, &folded) <= most_edits
        };
        // The similarity can reach 0.85 only if the lengths are near enough and the names share
        // a prefix: Jaro is at most (m/a + m/b + 1)/3 with m the shorter length, and Winkler adds
        // 0.1 of what is left per common leading character (up to four).
        // The similarity, once computed, is kept for the ranking below.
        let mut computed = None;
        let mut similar_enough = || {
            let m = shortest as f64;
            let jaro = (m / length.max(1) as f64 + m / other.max(1) as f64 + 1.0) / 3.0;
            let common = lower.chars().zip(folded.chars()).take(4).take_while(|(a, b)| a == b).count();
            let bound = jaro + common as f64 * 0.1 * (1.0 - jaro);
            bound >= 0.85 && *computed.insert(similarity()) >= 0.85
        };
        let close = prefix || within() || (shortest > 4 && similar_enough());
        if !close {
            continue;
        }
        let score = computed.unwrap_or_else(similarity);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let known = ["building", "planning", "verifying", "complete"];
        assert_eq!(did_you_mean("buidling", known), Some("building".into()));
        assert_eq!(did_you_mean("verifyng", known), Some("verifying".into()));
        assert_eq!(did_you_mean("deploy", known), None);
        assert_eq!(did_you_mean("tpye", ["type", "id"]), Some("type".into()));
        assert_eq!(did_you_mean("Building", known), Some("building".into()));
        assert_eq!(did_you_mean("base", ["name", "type"]), None);
        assert_eq!(did_you_mean("nme", ["name", "type"]), Some("name".into()));
    }
}
