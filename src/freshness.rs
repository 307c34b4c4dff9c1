//! How long a fetched JWKS or discovery document stays fresh, from its response headers
//! (RFC 9111 §4.2), and the refresh interval that follows within the provider's bounds.
//!
//! Identity providers say how often to refetch their keys: Google's key endpoints answer with
//! `Cache-Control: public, max-age=...` (hours) and ask clients to honour it, Entra ID's with a
//! `max-age` too, while Keycloak answers `no-cache`. Following the provider's lifetime means
//! fewer fetches when keys are long-lived and quicker pick-up when they are not; bounding it
//! keeps a misconfigured or hostile endpoint from stopping refreshes (ceiling) or turning every
//! tick into a fetch (floor). An unknown `kid` still triggers its own, rate-limited refetch.

/// What a response says about its own lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Neither `Cache-Control: max-age` nor a usable `Expires`: the configured interval applies.
    Unstated,
    /// Fresh for this many seconds (0: stale at once, as `no-cache`, `no-store`, `max-age=0`, or
    /// an `Expires` in the past).
    Seconds(u64),
}

/// The bounds a provider's refresh interval stays within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalBounds {
    /// The configured `refresh.interval_s`: used when the response states no lifetime.
    pub configured_s: u64,
    /// Never refresh more often than this, whatever the response says.
    pub floor_s: u64,
    /// The configured `refresh.max_stale_s`. The interval stays at or below half of it, so a
    /// refresh that fails still leaves the last good keys time for retries before they expire.
    pub max_stale_s: u64,
}

/// The refresh interval, in seconds, for a response with this lifetime.
pub fn effective_interval_s(lifetime: Lifetime, bounds: IntervalBounds) -> u64 {
    let ceiling = (bounds.max_stale_s / 2).max(bounds.floor_s);
    match lifetime {
        Lifetime::Unstated => bounds.configured_s,
        Lifetime::Seconds(seconds) => seconds.clamp(bounds.floor_s, ceiling),
    }
}

/// The lifetime a response states (RFC 9111 §4.2.1): `Cache-Control` `no-store`/`no-cache`
/// (stale at once) or `max-age`, else `Expires` minus `Date` (or `now_s` without `Date`).
/// `headers` are lowercase names with their values; each header may appear several times.
pub fn lifetime(headers: &[(String, String)], now_s: u64) -> Lifetime {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let mut max_age = None;
    for directive in values("cache-control").flat_map(|value| value.split(',')) {
        let directive = directive.trim();
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Lifetime::Seconds(0);
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            // RFC 9111 §1.2.2: delta-seconds are digits; an invalid one is ignored here, and
            // a huge one saturates (the ceiling bounds it anyway).
            max_age = argument.and_then(parse_delta_seconds);
        }
    }
    if let Some(seconds) = max_age {
        return Lifetime::Seconds(seconds);
    }
    let Some(expires) = values("expires").next() else {
        return Lifetime::Unstated;
    };
    // RFC 9111 §5.3: an invalid Expires (such as "0") means "already expired".
    let Some(expires_s) = parse_http_date(expires) else {
        return Lifetime::Seconds(0);
    };
    let date_s = values("date")
        .next()
        .and_then(parse_http_date)
        .unwrap_or(now_s);
    Lifetime::Seconds(expires_s.saturating_sub(date_s))
}

fn parse_delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110
/// §5.6.7), the one date format senders must generate. The obsolete formats are not read:
/// they count as invalid, which for `Expires` means stale.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.trim().split(' ');
    let (_weekday, day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || zone != "GMT" || day.len() != 2 || year.len() != 4 {
        return None;
    }
    let day: u64 = digits(day)?;
    let year: u64 = digits(year)?;
    let month = 1 + MONTHS.iter().position(|m| *m == month)? as u64;
    let mut clock = time.split(':');
    let (hour, minute, second) = (clock.next()?, clock.next()?, clock.next()?);
    if clock.next().is_some() || [hour, minute, second].iter().any(|p| p.len() != 2) {
        return None;
    }
    let (hour, minute, second): (u64, u64, u64) = (digits(hour)?, digits(minute)?, digits(second)?);
    if !(1..=31).contains(&day) || year < 1970 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn digits(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`),
/// for years from 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const NOW: u64 = 1_800_000_000;
    const BOUNDS: IntervalBounds = IntervalBounds {
        configured_s: 600,
        floor_s: 60,
        max_stale_s: 86_400,
    };

    #[test]
    fn max_age_states_the_lifetime() {
        let google = headers(&[(
            "cache-control",
            "public, max-age=22185, must-revalidate, no-transform",
        )]);
        assert_eq!(lifetime(&google, NOW), Lifetime::Seconds(22_185));
    }

    #[test]
    fn no_cache_and_no_store_are_stale_at_once() {
        for value in [
            "no-cache",
            "no-store",
            "private, NO-CACHE",
            "max-age=300, no-store",
        ] {
            let h = headers(&[("cache-control", value)]);
            assert_eq!(lifetime(&h, NOW), Lifetime::Seconds(0), "{value}");
        }
    }

    #[test]
    fn expires_counts_from_the_date_header_or_now() {
        let h = headers(&[
            ("date", "Fri, 15 Jan 2027 08:00:00 GMT"),
            ("expires", "Fri, 15 Jan 2027 09:00:00 GMT"),
        ]);
        assert_eq!(lifetime(&h, 0), Lifetime::Seconds(3_600));
        let h = headers(&[("expires", "Fri, 15 Jan 2027 09:00:00 GMT")]);
        let expires = parse_http_date("Fri, 15 Jan 2027 09:00:00 GMT").unwrap();
        assert_eq!(lifetime(&h, expires - 60), Lifetime::Seconds(60));
    }

    #[test]
    fn max_age_wins_over_expires() {
        let h = headers(&[
            ("expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("cache-control", "max-age=900"),
        ]);
        assert_eq!(lifetime(&h, NOW), Lifetime::Seconds(900));
    }

    #[test]
    fn an_invalid_expires_is_already_stale_and_an_invalid_max_age_is_ignored() {
        assert_eq!(
            lifetime(&headers(&[("expires", "0")]), NOW),
            Lifetime::Seconds(0)
        );
        let h = headers(&[("cache-control", "max-age=soon")]);
        assert_eq!(lifetime(&h, NOW), Lifetime::Unstated);
        let h = headers(&[("cache-control", "max-age=-5")]);
        assert_eq!(lifetime(&h, NOW), Lifetime::Unstated);
    }

    #[test]
    fn a_response_without_caching_headers_states_nothing() {
        let h = headers(&[("content-type", "application/json")]);
        assert_eq!(lifetime(&h, NOW), Lifetime::Unstated);
    }

    #[test]
    fn the_interval_follows_the_lifetime_within_floor_and_ceiling() {
        let cases = [
            (Lifetime::Unstated, 600),
            (Lifetime::Seconds(3_600), 3_600),
            (Lifetime::Seconds(0), 60),
            (Lifetime::Seconds(30), 60),
            (Lifetime::Seconds(500_000), 43_200),
            (Lifetime::Seconds(u64::MAX), 43_200),
        ];
        for (lifetime, want) in cases {
            assert_eq!(effective_interval_s(lifetime, BOUNDS), want, "{lifetime:?}");
        }
    }

    #[test]
    fn the_floor_holds_even_when_max_stale_is_short() {
        let bounds = IntervalBounds {
            configured_s: 10,
            floor_s: 60,
            max_stale_s: 60,
        };
        assert_eq!(effective_interval_s(Lifetime::Seconds(3_600), bounds), 60);
    }

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Now 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
