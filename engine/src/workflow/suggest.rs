//! "Did you mean": the closest known name to a misspelt one.

/// The known name closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        if candidate == name {
            continue;
        }
        let score = if candidate.to_lowercase() == lower {
            1.0
        } else {
            strsim::jaro_winkler(&lower, &candidate.to_lowercase())
        };
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
        // Short names are close only by one edit, a swap counting as one (`tpye` → `type`, but
        // not `base` → `name`); longer ones by similarity or two or three edits.
        let shortest = lower.chars().count().min(candidate.chars().count());
        // A name cut short (`plan` for `planning`) is close too.
        let prefix = lower.chars().count() >= 3 && candidate.to_lowercase().starts_with(&lower);
        let close = prefix
            || if shortest <= 4 {
                distance <= 1
            } else {
                score >= 0.85 || distance <= 2 || (distance <= 3 && shortest >= 8)
            };
        if close && best.is_none_or(|(s, _)| score > s) {
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
