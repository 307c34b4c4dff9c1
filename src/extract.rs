//! Where the token is on a request, and how to take it off before forwarding.
//!
//! A provider lists one or more [`TokenSource`]s. [`find_token`] looks at every one of
//! them: a request that carries two *different* tokens (two sources, or a repeated
//! header/parameter/cookie) is [`ExtractError::Ambiguous`] — picking one would let a
//! client smuggle a second identity past whichever check looked at the other (the same
//! reason RFC 6750 §2 says a client MUST NOT use more than one method per request).
//! The same token found twice is fine.

use crate::request::Request;
use std::borrow::Cow;

/// The longest token accepted: the same bound `jwt::decode` applies, checked here so an
/// oversized value is refused before any decoding work.
pub use crate::jwt::MAX_TOKEN_LEN;

/// One place a provider's token may be carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header (lowercase name). `prefix` is the auth scheme and separator, such as
    /// `"Bearer "`: the scheme compares case-insensitively (RFC 7235 §2.1) and any run of
    /// spaces may follow it. An empty prefix takes the whole value.
    Header { name: String, prefix: String },
    /// A query parameter (RFC 6750 §2.3). The value is taken as sent, without
    /// percent-decoding: the JWS compact alphabet (base64url and `.`) never needs it.
    Query { param: String },
    /// A cookie.
    Cookie { name: String },
}

/// Where a token was found: the index of the source in the provider's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLocation {
    pub source: usize,
}

/// A token found on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken<'r> {
    pub token: Cow<'r, str>,
    /// The first source it was found in.
    pub location: TokenLocation,
}

/// Why extraction refused the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// Two different tokens were presented.
    Ambiguous,
    /// A token longer than [`MAX_TOKEN_LEN`].
    TooLong,
}

/// A change to the request headers before it goes upstream. `:path` is set like any
/// other header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit {
    Remove { name: String },
    Set { name: String, value: String },
}

/// Finds the provider's token on the request. `Ok(None)` means no source carried one
/// (a header with another scheme, such as `Basic`, carries none).
pub fn find_token<'r>(
    sources: &[TokenSource],
    req: &'r Request,
) -> Result<Option<FoundToken<'r>>, ExtractError> {
    let mut found: Option<FoundToken<'r>> = None;
    for (index, source) in sources.iter().enumerate() {
        let mut visit = |token: &'r str| -> Result<(), ExtractError> {
            if token.len() > MAX_TOKEN_LEN {
                return Err(ExtractError::TooLong);
            }
            match &found {
                Some(previous) if previous.token != token => Err(ExtractError::Ambiguous),
                Some(_) => Ok(()),
                None => {
                    found = Some(FoundToken {
                        token: Cow::Borrowed(token),
                        location: TokenLocation { source: index },
                    });
                    Ok(())
                }
            }
        };
        match source {
            TokenSource::Header { name, prefix } => {
                for value in req.headers_named(name) {
                    if let Some(token) = strip_scheme(value, prefix) {
                        visit(token)?;
                    }
                }
            }
            TokenSource::Query { param } => {
                for (key, value) in query_pairs(req.query()) {
                    if key == param && !value.is_empty() {
                        visit(value)?;
                    }
                }
            }
            TokenSource::Cookie { name } => {
                for header in req.headers_named("cookie") {
                    for (key, value) in cookie_pairs(header) {
                        if key == name && !value.is_empty() {
                            visit(value)?;
                        }
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The edits that remove the provider's token from every source that carried it,
/// so the upstream never sees it (`forward_token: false`).
pub fn removal_edits(sources: &[TokenSource], req: &Request) -> Vec<HeaderEdit> {
    let mut edits = Vec::new();
    let mut path = Cow::Borrowed(req.path.as_str());
    let mut cookie_changed = false;
    let mut cookies: Vec<String> = req.headers_named("cookie").map(str::to_owned).collect();
    for source in sources {
        match source {
            TokenSource::Header { name, prefix } => {
                let carries = req
                    .headers_named(name)
                    .any(|value| strip_scheme(value, prefix).is_some());
                let already = edits
                    .iter()
                    .any(|edit| matches!(edit, HeaderEdit::Remove { name: n } if n == name));
                if carries && !already {
                    edits.push(HeaderEdit::Remove { name: name.clone() });
                }
            }
            TokenSource::Query { param } => {
                if let Some(rewritten) = path_without_param(&path, param) {
                    path = Cow::Owned(rewritten);
                }
            }
            TokenSource::Cookie { name } => {
                for header in &mut cookies {
                    if let Some(rewritten) = cookie_without(header, name) {
                        *header = rewritten;
                        cookie_changed = true;
                    }
                }
            }
        }
    }
    if let Cow::Owned(path) = path {
        edits.push(HeaderEdit::Set {
            name: ":path".to_owned(),
            value: path,
        });
    }
    if cookie_changed {
        let remaining: Vec<&str> = cookies
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty())
            .collect();
        if remaining.is_empty() {
            edits.push(HeaderEdit::Remove {
                name: "cookie".to_owned(),
            });
        } else {
            edits.push(HeaderEdit::Set {
                name: "cookie".to_owned(),
                value: remaining.join("; "),
            });
        }
    }
    edits
}

/// The credentials after `prefix`, or `None` when the value uses another scheme or
/// holds no credentials.
fn strip_scheme<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let scheme = prefix.trim_end_matches([' ', '\t']);
    let needs_space = scheme.len() != prefix.len();
    let head = value.get(..scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = value.get(scheme.len()..)?;
    let token = rest.trim_start_matches([' ', '\t']);
    if needs_space && token.len() == rest.len() {
        // `Bearerabc` is not the Bearer scheme.
        return None;
    }
    let token = token.trim_end_matches([' ', '\t']);
    (!token.is_empty()).then_some(token)
}

fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// `name=value` pairs of a `Cookie` header (RFC 6265 §4.2.1); a DQUOTE-wrapped value
/// is unwrapped (RFC 6265 §4.1.1 `cookie-value`).
fn cookie_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name.trim(), value))
    })
}

/// `path` without any `param` in its query; `None` when nothing changes.
fn path_without_param(path: &str, param: &str) -> Option<String> {
    let (base, query) = path.split_once('?')?;
    let mut removed = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            let drop = key == param;
            removed |= drop;
            !drop
        })
        .collect();
    if !removed {
        return None;
    }
    let kept: Vec<&str> = kept.into_iter().filter(|p| !p.is_empty()).collect();
    if kept.is_empty() {
        Some(base.to_owned())
    } else {
        Some(format!("{base}?{}", kept.join("&")))
    }
}

/// The cookie header without cookie `name`; `None` when it had none.
fn cookie_without(header: &str, name: &str) -> Option<String> {
    let mut removed = false;
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key).trim();
            let drop = key == name;
            removed |= drop;
            !drop && !pair.is_empty()
        })
        .collect();
    removed.then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> TokenSource {
        TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }
    }
    fn query() -> TokenSource {
        TokenSource::Query {
            param: "access_token".into(),
        }
    }
    fn cookie() -> TokenSource {
        TokenSource::Cookie {
            name: "session".into(),
        }
    }
    fn all() -> Vec<TokenSource> {
        vec![bearer(), query(), cookie()]
    }

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            host: "api.example.com".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            route_name: None,
        }
    }

    fn token_of(r: &Request) -> Option<(String, usize)> {
        find_token(&all(), r)
            .unwrap()
            .map(|f| (f.token.into_owned(), f.location.source))
    }

    #[test]
    fn bearer_header_scheme_is_case_insensitive_and_spaces_are_skipped() {
        for value in ["Bearer abc", "bearer abc", "BEARER   abc", "Bearer\tabc "] {
            let r = req("/", &[("authorization", value)]);
            assert_eq!(token_of(&r), Some(("abc".into(), 0)), "{value}");
        }
    }

    #[test]
    fn a_header_with_another_scheme_or_no_credentials_is_not_a_token() {
        for value in ["Basic dXNlcjpwYXNz", "Bearerabc", "Bearer ", "Bearer", ""] {
            let r = req("/", &[("authorization", value)]);
            assert_eq!(token_of(&r), None, "{value:?}");
        }
    }

    #[test]
    fn an_empty_prefix_takes_the_whole_header_value() {
        let sources = [TokenSource::Header {
            name: "x-jwt".into(),
            prefix: String::new(),
        }];
        let r = req("/", &[("x-jwt", " abc ")]);
        assert_eq!(find_token(&sources, &r).unwrap().unwrap().token, "abc");
    }

    #[test]
    fn query_and_cookie_sources_are_found() {
        let r = req("/x?a=1&access_token=q1", &[]);
        assert_eq!(token_of(&r), Some(("q1".into(), 1)));
        let r = req("/x", &[("cookie", "theme=dark; session=\"c1\"")]);
        assert_eq!(token_of(&r), Some(("c1".into(), 2)));
    }

    #[test]
    fn the_same_token_in_two_sources_is_accepted() {
        let r = req(
            "/x?access_token=t",
            &[("authorization", "Bearer t"), ("cookie", "session=t")],
        );
        assert_eq!(token_of(&r), Some(("t".into(), 0)));
    }

    #[test]
    fn different_tokens_are_ambiguous() {
        let cases = [
            req("/x?access_token=b", &[("authorization", "Bearer a")]),
            req(
                "/x",
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            ),
            req("/x?access_token=a&access_token=b", &[]),
            req("/x", &[("cookie", "session=a"), ("cookie", "session=b")]),
            req(
                "/x",
                &[("authorization", "Bearer a"), ("cookie", "session=b")],
            ),
        ];
        for r in cases {
            assert_eq!(
                find_token(&all(), &r),
                Err(ExtractError::Ambiguous),
                "{r:?}"
            );
        }
    }

    #[test]
    fn an_oversized_token_is_refused() {
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        let r = req("/", &[("authorization", long.as_str())]);
        assert_eq!(find_token(&all(), &r), Err(ExtractError::TooLong));
    }

    #[test]
    fn no_source_carrying_a_token_is_none() {
        let r = req("/x?other=1", &[("cookie", "theme=dark")]);
        assert_eq!(find_token(&all(), &r), Ok(None));
    }

    #[test]
    fn removal_drops_the_header_carrying_the_token() {
        let r = req("/", &[("authorization", "Bearer t")]);
        assert_eq!(
            removal_edits(&all(), &r),
            vec![HeaderEdit::Remove {
                name: "authorization".into()
            }]
        );
    }

    #[test]
    fn removal_keeps_a_header_with_another_scheme() {
        let r = req("/", &[("authorization", "Basic xyz")]);
        assert_eq!(removal_edits(&all(), &r), vec![]);
    }

    #[test]
    fn removal_rewrites_the_path_without_the_query_parameter() {
        let cases = [
            ("/x?access_token=t", "/x"),
            ("/x?a=1&access_token=t&b=2", "/x?a=1&b=2"),
            ("/x?access_token=t&access_token=t", "/x"),
        ];
        for (path, want) in cases {
            let r = req(path, &[]);
            assert_eq!(
                removal_edits(&all(), &r),
                vec![HeaderEdit::Set {
                    name: ":path".into(),
                    value: want.into()
                }],
                "{path}"
            );
        }
    }

    #[test]
    fn removal_rewrites_the_cookie_header_without_the_token_cookie() {
        let r = req("/", &[("cookie", "a=1; session=t; b=2")]);
        assert_eq!(
            removal_edits(&all(), &r),
            vec![HeaderEdit::Set {
                name: "cookie".into(),
                value: "a=1; b=2".into()
            }]
        );
        let r = req("/", &[("cookie", "session=t")]);
        assert_eq!(
            removal_edits(&all(), &r),
            vec![HeaderEdit::Remove {
                name: "cookie".into()
            }]
        );
    }

    #[test]
    fn removal_of_nothing_is_no_edit() {
        let r = req("/x?a=1", &[("cookie", "a=1")]);
        assert_eq!(removal_edits(&all(), &r), vec![]);
    }
}
