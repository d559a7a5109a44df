//! "Did you mean ...?" for names a runbook author mistyped.

/// Returns the candidate closest to `word` when it is close enough to be a likely typo.
///
/// Closeness is the optimal-string-alignment distance, with a budget that grows with the
/// length of the word: one edit for short names, up to three for long ones. A candidate
/// that differs only in case or in `-`/`_` always qualifies.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let normalized = normalize(word);
    let budget = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let distance = if normalize(candidate) == normalized {
            0
        } else {
            strsim::osa_distance(word, candidate)
        };
        if distance <= budget && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let names = ["promote_db", "gate", "shift_traffic", "announce"];
        assert_eq!(did_you_mean("promte_db", names), Some("promote_db"));
        assert_eq!(did_you_mean("promote-db", names), Some("promote_db"));
        assert_eq!(did_you_mean("gat", names), Some("gate"));
        assert_eq!(did_you_mean("rollback", names), None);
        assert_eq!(did_you_mean("gate", names), None);
    }
}
