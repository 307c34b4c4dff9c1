//! Times on the command line: instants as Unix seconds or RFC 3339, spans as `1h`, `90s`,
//! `2d 3h` (humantime), and offsets from "now" as `+5m` / `-30s`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a time argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// Neither Unix seconds nor an RFC 3339 timestamp.
    NotAnInstant(String),
    /// Not a duration such as `1h` or `90s`.
    NotADuration(String),
    /// Before 1970 or beyond what a JWT NumericDate can hold here.
    OutOfRange(String),
    /// The system clock is before 1970.
    ClockBeforeEpoch,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::NotAnInstant(text) => write!(
                f,
                "{text:?} is not a time: use Unix seconds (1767225600) or RFC 3339 (2026-01-01T00:00:00Z)"
            ),
            TimeError::NotADuration(text) => {
                write!(f, "{text:?} is not a duration: use e.g. 30s, 15m, 1h, 7d")
            }
            TimeError::OutOfRange(text) => write!(f, "{text:?} is out of range"),
            TimeError::ClockBeforeEpoch => f.write_str("the system clock is before 1970"),
        }
    }
}

impl std::error::Error for TimeError {}

/// Seconds since the Unix epoch, from the system clock.
pub fn system_now() -> Result<u64, TimeError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| TimeError::ClockBeforeEpoch)
}

/// An absolute instant: Unix seconds (`1767225600`) or RFC 3339 (`2026-01-01T00:00:00Z`).
pub fn parse_instant(text: &str) -> Result<u64, TimeError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map_err(|_| TimeError::OutOfRange(text.to_owned()));
    }
    let instant = humantime::parse_rfc3339_weak(text)
        .map_err(|_| TimeError::NotAnInstant(text.to_owned()))?;
    instant
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| TimeError::OutOfRange(text.to_owned()))
}

/// A span such as `1h`, `90s`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, TimeError> {
    humantime::parse_duration(text.trim()).map_err(|_| TimeError::NotADuration(text.to_owned()))
}

/// An instant given absolutely, or relative to `now` with a sign: `+5m`, `-30s`.
pub fn parse_instant_or_offset(text: &str, now: u64) -> Result<u64, TimeError> {
    let trimmed = text.trim();
    let out_of_range = || TimeError::OutOfRange(text.to_owned());
    if let Some(span) = trimmed.strip_prefix('+') {
        now.checked_add(parse_duration(span)?.as_secs())
            .ok_or_else(out_of_range)
    } else if let Some(span) = trimmed.strip_prefix('-') {
        now.checked_sub(parse_duration(span)?.as_secs())
            .ok_or_else(out_of_range)
    } else {
        parse_instant(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_from_unix_seconds_and_rfc_3339() {
        let cases = [
            ("0", 0),
            ("1767225600", 1_767_225_600),
            ("2026-01-01T00:00:00Z", 1_767_225_600),
            ("2026-01-01 00:00:00", 1_767_225_600),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_instant(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn malformed_instants_are_refused() {
        for text in ["", "yesterday", "-5", "2026-13-01T00:00:00Z"] {
            assert_eq!(
                parse_instant(text),
                Err(TimeError::NotAnInstant(text.to_owned())),
                "{text}"
            );
        }
        assert_eq!(
            parse_instant("99999999999999999999999"),
            Err(TimeError::OutOfRange("99999999999999999999999".into()))
        );
    }

    #[test]
    fn offsets_are_relative_to_now() {
        assert_eq!(parse_instant_or_offset("+5m", 1000), Ok(1300));
        assert_eq!(parse_instant_or_offset("-30s", 1000), Ok(970));
        assert_eq!(parse_instant_or_offset("42", 1000), Ok(42));
    }

    #[test]
    fn offset_before_the_epoch_is_out_of_range() {
        assert_eq!(
            parse_instant_or_offset("-1h", 10),
            Err(TimeError::OutOfRange("-1h".into()))
        );
    }

    #[test]
    fn durations_use_unit_suffixes() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("soon"),
            Err(TimeError::NotADuration("soon".into()))
        );
    }
}
