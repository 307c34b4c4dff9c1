//! The `htu` comparison of RFC 9449 §4.3 check 9: the proof's URI and the request's, each
//! without query and fragment, normalised per RFC 3986 §6.2.2 (syntax: case of scheme, host
//! and percent-encodings, unreserved characters decoded, dot segments removed) and §6.2.3
//! (scheme: the default port and an empty path dropped), then compared as strings.
//!
//! Only `http` and `https` URIs compare: a proof for another scheme never matches a request
//! Envoy serves. A URI with userinfo, a bad percent-escape or no authority has no normal form
//! and matches nothing (the proof is refused rather than guessed at).

/// The longest `htu` normalised, in bytes: URIs beyond this are refused. Envoy's default
/// request-header budget is 60 KiB, but a proof is one header among them and its `htu` is
/// a short URL in practice; 4 KiB bounds the work a hostile proof can cause.
pub const MAX_HTU_BYTES: usize = 4096;

/// `scheme://authority` of an absolute `http`/`https` URI, normalised (lowercase scheme and
/// host, default port removed): the configured external origin and the prefix of every
/// normalised `htu`. `None` when `origin` is not such a URI or carries a path other than `/`.
pub fn normalize_origin(origin: &str) -> Option<String> {
    let (normal, rest) = split_origin(origin)?;
    matches!(rest, "" | "/").then_some(normal)
}

/// The normal form of an absolute `http`/`https` URI, without query and fragment.
pub fn normalize_uri(uri: &str) -> Option<String> {
    if uri.len() > MAX_HTU_BYTES {
        return None;
    }
    let (origin, rest) = split_origin(uri)?;
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let mut normal = origin;
    normal.push_str(&normalize_path(path)?);
    Some(normal)
}

/// The normal form of the request's URI: `origin` (already normal) followed by the request
/// path (query dropped) normalised the same way as an `htu`.
pub fn request_uri(origin: &str, path_and_query: &str) -> Option<String> {
    if origin.len().saturating_add(path_and_query.len()) > MAX_HTU_BYTES {
        return None;
    }
    let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
    let mut normal = String::with_capacity(origin.len() + path.len());
    normal.push_str(origin);
    normal.push_str(&normalize_path(path)?);
    Some(normal)
}

/// The origin of a request seen by Envoy: its `:scheme` and `:authority`, normalised.
pub fn origin_of(scheme: &str, authority: &str) -> Option<String> {
    if scheme.len().saturating_add(authority.len()) > MAX_HTU_BYTES {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority = normalize_authority(&scheme, authority)?;
    Some(format!("{scheme}://{authority}"))
}

/// Splits `scheme://authority` (normalised) from the rest of the URI.
fn split_origin(uri: &str) -> Option<(String, &str)> {
    let (scheme, after) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at_checked(end)?;
    let authority = normalize_authority(&scheme, authority)?;
    Some((format!("{scheme}://{authority}"), rest))
}

/// Lowercase host, default port dropped (RFC 3986 §6.2.3), empty port dropped; no userinfo.
fn normalize_authority(scheme: &str, authority: &str) -> Option<String> {
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // An IPv6 literal holds colons of its own: the port follows the closing bracket.
    let port_at = match authority.rfind(']') {
        Some(bracket) => authority
            .get(bracket..)
            .and_then(|tail| tail.find(':'))
            .map(|at| bracket + at),
        None => authority.rfind(':'),
    };
    let (host, port) = match port_at {
        Some(at) => (authority.get(..at)?, authority.get(at + 1..)?),
        None => (authority, ""),
    };
    if host.is_empty()
        || !port.bytes().all(|b| b.is_ascii_digit())
        || host
            .bytes()
            .any(|b| b <= b' ' || b == b'/' || b == b'\\' || b >= 0x7f)
    {
        return None;
    }
    let port = port.trim_start_matches('0');
    let mut normal = host.to_ascii_lowercase();
    if !port.is_empty() && port != default_port {
        normal.push(':');
        normal.push_str(port);
    }
    Some(normal)
}

/// Percent-encodings in uppercase, unreserved characters decoded (§6.2.2.1, §6.2.2.2), dot
/// segments removed (§6.2.2.3, §5.2.4), an empty path as `/` (§6.2.3).
fn normalize_path(path: &str) -> Option<String> {
    let mut decoded = String::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let value = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())?;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&format!("{value:02X}"));
            }
            i += 3;
        } else if b <= b' ' || b >= 0x7f || b == b'#' {
            return None;
        } else {
            decoded.push(char::from(b));
            i += 1;
        }
    }
    Some(remove_dot_segments(&decoded))
}

/// RFC 3986 §5.2.4, on a path whose `.` are literal (encoded dots were decoded first, as
/// §6.2.2.2 then §6.2.2.3 order it).
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." if index == last => {
                if *segment == ".." && output.len() > 1 {
                    output.pop();
                }
                output.push("");
            }
            "." => {}
            ".." => {
                if output.len() > 1 {
                    output.pop();
                }
            }
            other => output.push(other),
        }
    }
    let joined = output.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_spellings_have_one_normal_form() {
        let expected = Some("https://server.example.com/a/b~c".to_owned());
        for uri in [
            "https://server.example.com/a/b~c",
            "HTTPS://Server.Example.COM/a/b~c",
            "https://server.example.com:443/a/b~c",
            "https://server.example.com:/a/b~c",
            "https://server.example.com/a/b%7Ec",
            "https://server.example.com/a/b%7ec",
            "https://server.example.com/a/./x/../b~c",
            "https://server.example.com/a/b~c?query=1",
            "https://server.example.com/a/b~c#fragment",
            "https://server.example.com/a/b~c?q#f",
        ] {
            assert_eq!(normalize_uri(uri), expected, "{uri}");
        }
    }

    #[test]
    fn percent_encodings_of_reserved_characters_stay_encoded_in_uppercase() {
        assert_eq!(
            normalize_uri("https://a.example/x%2fy").as_deref(),
            Some("https://a.example/x%2Fy")
        );
    }

    #[test]
    fn an_empty_path_is_the_root() {
        assert_eq!(
            normalize_uri("http://a.example").as_deref(),
            Some("http://a.example/")
        );
        assert_eq!(
            normalize_uri("http://a.example?x").as_deref(),
            Some("http://a.example/")
        );
    }

    #[test]
    fn a_port_other_than_the_default_is_kept() {
        assert_eq!(
            normalize_uri("http://a.example:8080/x").as_deref(),
            Some("http://a.example:8080/x")
        );
        assert_eq!(
            normalize_uri("http://a.example:443/x").as_deref(),
            Some("http://a.example:443/x")
        );
        assert_eq!(
            normalize_uri("https://[::1]:443/x").as_deref(),
            Some("https://[::1]/x")
        );
    }

    #[test]
    fn uris_without_a_normal_form_are_refused() {
        for uri in [
            "https://user@a.example/x",
            "ftp://a.example/x",
            "https:///x",
            "/relative",
            "https://a.example/bad%zz",
            "https://a.example/trunc%4",
            "https://a.example:80a/x",
            "https://a.example/with space",
        ] {
            assert_eq!(normalize_uri(uri), None, "{uri}");
        }
    }

    #[test]
    fn overlong_uris_are_refused() {
        let uri = format!("https://a.example/{}", "x".repeat(MAX_HTU_BYTES));
        assert_eq!(normalize_uri(&uri), None);
    }

    #[test]
    fn a_configured_origin_has_no_path() {
        assert_eq!(
            normalize_origin("HTTPS://API.example.com:443/").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(normalize_origin("https://api.example.com/v1"), None);
    }

    #[test]
    fn the_request_uri_is_its_origin_and_normalised_path_without_query() {
        let origin = origin_of("https", "API.example.com:443").unwrap();
        assert_eq!(
            request_uri(&origin, "/a/%7e/./b?x=1").as_deref(),
            Some("https://api.example.com/a/~/b")
        );
    }

    #[test]
    fn dot_segments_never_climb_above_the_root() {
        assert_eq!(
            normalize_uri("https://a.example/../../x").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            normalize_uri("https://a.example/a/b/..").as_deref(),
            Some("https://a.example/a/")
        );
    }
}
