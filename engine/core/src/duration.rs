//! Durations as runbooks write them: `500ms`, `30s`, `5m`, `1h30m`, `2d`.
//!
//! The syntax is deliberately small: whole numbers, units `ms s m h d`, largest unit first,
//! each unit at most once, no spaces. A bare number is rejected because `timeout: 30` is
//! ambiguous (seconds? minutes?) and an outage is a bad time to find out.

use std::time::Duration;

/// Why a duration string is not valid. The message is meant for a runbook author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write something like `30s`, `5m` or `1h30m`")]
    Empty,
    #[error("`{0}` has no unit; write `{0}s` for seconds or `{0}m` for minutes")]
    MissingUnit(String),
    #[error("unknown unit `{unit}` in `{text}`; use ms, s, m, h or d")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is not a duration; write something like `30s`, `5m` or `1h30m`")]
    Malformed(String),
    #[error(
        "units in `{0}` must go from largest to smallest, each at most once (`1h30m`, not `30m1h`)"
    )]
    Order(String),
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `1h30m`-style text. See the module doc for the grammar.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the last unit seen; units must strictly increase in index.
    let mut last_unit: Option<usize> = None;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(DurationError::Malformed(text.to_owned()));
        }
        let number: u64 = text[start..i]
            .parse()
            .map_err(|_| DurationError::Overflow(text.to_owned()))?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[unit_start..i];
        if unit.is_empty() {
            return Err(if i == bytes.len() && start == 0 {
                DurationError::MissingUnit(text.to_owned())
            } else {
                DurationError::Malformed(text.to_owned())
            });
        }
        let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(DurationError::Order(text.to_owned()));
        }
        last_unit = Some(index);
        total_ms = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Prints a duration in the same syntax, largest unit first: `1h30m`, `500ms`, `0s`.
/// Sub-millisecond parts are dropped; runbook durations never have them.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let n = ms / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_runbook_syntax() {
        let cases = [
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d2h3m4s5ms", 93_784_005),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_millis(), ms, "{text}");
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn rejects_ambiguous_or_malformed_text() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert!(matches!(
            parse_duration("5x"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("30m1h"),
            Err(DurationError::Order(_))
        ));
        assert!(matches!(
            parse_duration("1m1m"),
            Err(DurationError::Order(_))
        ));
        assert!(matches!(
            parse_duration("1h 30m"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("m"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("1.5s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }
}
