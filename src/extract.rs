//! Where the token is on a request, and how to take it off before forwarding.
//!
//! A provider lists one or more [`TokenSource`]s. [`find_token`] looks at every one of
//! them: a request that carries two *different* tokens (two sources, or a repeated
//! header/parameter/cookie) is [`ExtractError::Ambiguous`] — picking one would let a
//! client smuggle a second identity past whichever check looked at the other (the same
//! reason RFC 6750 §2 says a client MUST NOT use more than one method per request).
//! The same token found twice is fine.
//!
//! "Carries" means what the upstream's parser reads, not what a byte comparison finds:
//! [`spelling`] lists the spellings recognised, and [`removal_edits`] takes every one of
//! them off the request, so a forged `access%5Ftoken` or `theme=dark, session=..` can
//! neither slip past the check nor ride along to the upstream.

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
    /// A query parameter (RFC 6750 §2.3). Name and value are read percent-decoded, as
    /// the upstream's form parser reads them (see [`spelling`]).
    Query { param: String },
    /// A cookie; the name is read in every spelling of [`spelling`].
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
///
/// Every spelling an upstream parser could read as the source counts (see [`spelling`]):
/// a second, different token under another spelling is [`ExtractError::Ambiguous`], not
/// ignored — ignoring it would let it ride upstream unverified.
pub fn find_token<'r>(
    sources: &[TokenSource],
    req: &'r Request,
) -> Result<Option<FoundToken<'r>>, ExtractError> {
    let mut found: Option<FoundToken<'r>> = None;
    for (index, source) in sources.iter().enumerate() {
        let mut visit = |token: Cow<'r, str>| -> Result<(), ExtractError> {
            if token.len() > MAX_TOKEN_LEN {
                return Err(ExtractError::TooLong);
            }
            match &found {
                Some(previous) if previous.token != token => Err(ExtractError::Ambiguous),
                Some(_) => Ok(()),
                None => {
                    found = Some(FoundToken {
                        token,
                        location: TokenLocation { source: index },
                    });
                    Ok(())
                }
            }
        };
        match source {
            TokenSource::Header { name, prefix } => {
                for (_, value) in spelling::headers(req, name) {
                    if let Some(token) = strip_scheme(value, prefix) {
                        visit(Cow::Borrowed(token))?;
                    }
                }
            }
            TokenSource::Query { param } => {
                let wanted = spelling::fold_name(param);
                for pair in spelling::query_pairs(req.query().unwrap_or("")) {
                    if pair.is_named(&wanted) {
                        let value = pair.value(true);
                        if !value.is_empty() {
                            visit(value)?;
                        }
                    }
                }
            }
            TokenSource::Cookie { name } => {
                let wanted = spelling::fold_name(name);
                for header in req.headers_named("cookie") {
                    for pair in spelling::cookie_pairs(header) {
                        if pair.is_named(&wanted) {
                            let value = pair.value(false);
                            if !value.is_empty() {
                                visit(value)?;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The edits that remove every spelling of every source in `sources` from the request,
/// so the upstream never sees a token claimcheck did not verify for it.
pub fn removal_edits(sources: &[TokenSource], req: &Request) -> Vec<HeaderEdit> {
    let mut edits = Vec::new();
    let mut query_names: Vec<String> = Vec::new();
    let mut cookie_names: Vec<String> = Vec::new();
    for source in sources {
        match source {
            TokenSource::Header { name, prefix } => {
                for (spelled, value) in spelling::headers(req, name) {
                    let already = edits
                        .iter()
                        .any(|edit| matches!(edit, HeaderEdit::Remove { name: n } if n == spelled));
                    if strip_scheme(value, prefix).is_some() && !already {
                        edits.push(HeaderEdit::Remove {
                            name: spelled.to_owned(),
                        });
                    }
                }
            }
            TokenSource::Query { param } => query_names.push(spelling::fold_name(param)),
            TokenSource::Cookie { name } => cookie_names.push(spelling::fold_name(name)),
        }
    }
    if let Some(path) = path_without(&req.path, &query_names) {
        edits.push(HeaderEdit::Set {
            name: ":path".to_owned(),
            value: path,
        });
    }
    if !cookie_names.is_empty() {
        edits.extend(cookie_edit(req, &cookie_names));
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

/// `path` without any query pair named (in any spelling) one of `names`; `None` when
/// nothing changes. The other pairs and their separators are kept as sent.
fn path_without(path: &str, names: &[String]) -> Option<String> {
    let (base, query) = path.split_once('?')?;
    let kept = spelling::without(spelling::query_pairs(query), names, false)?;
    Some(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{kept}")
    })
}

/// The `cookie` edit that removes every cookie named (in any spelling) one of `names`.
fn cookie_edit(req: &Request, names: &[String]) -> Option<HeaderEdit> {
    let mut changed = false;
    let mut remaining: Vec<String> = Vec::new();
    for header in req.headers_named("cookie") {
        match spelling::without(spelling::cookie_pairs(header), names, true) {
            Some(kept) => {
                changed = true;
                if !kept.is_empty() {
                    remaining.push(kept);
                }
            }
            None => remaining.push(header.to_owned()),
        }
    }
    if !changed {
        return None;
    }
    Some(if remaining.is_empty() {
        HeaderEdit::Remove {
            name: "cookie".to_owned(),
        }
    } else {
        HeaderEdit::Set {
            name: "cookie".to_owned(),
            value: remaining.join("; "),
        }
    })
}

/// How common upstream parsers read names off a request, folded to one form so that
/// every spelling that reaches the same variable upstream is recognised (and removed).
///
/// The spellings covered, each one a parser that reads it as the configured name:
/// - header names with `_` for `-` (CGI, WSGI, PHP, Rack map both to `HTTP_X_NAME`);
/// - query and cookie names percent-decoded, `+` as a space in queries
///   (`application/x-www-form-urlencoded`; PHP also decodes cookie names);
/// - names compared ignoring ASCII case (ASP.NET Core's query and cookie collections);
/// - ` ` and `.` read as `_`, and `name[...]` read as `name` (PHP's variable names);
/// - query pairs separated by `;` as well as `&` (older Python, Rack), cookies by `,` as
///   well as `;` (RFC 2965 and the servlet containers that still accept it);
/// - repeated names: every occurrence counts.
pub mod spelling {
    use super::Request;
    use std::borrow::Cow;

    /// A byte of a header name as a CGI-style upstream reads it: lowercase, `_` as `-`.
    fn fold_header_byte(b: u8) -> u8 {
        match b {
            b'_' => b'-',
            other => other.to_ascii_lowercase(),
        }
    }

    /// Whether an upstream reads the header `sent` as `name`: the two are equal once both
    /// are lowercased with `_` as `-`. Compared byte by byte, with nothing allocated: every
    /// request compares each of its headers with each name the policy strips.
    pub fn same_header(sent: &str, name: &str) -> bool {
        sent.len() == name.len()
            && sent
                .bytes()
                .zip(name.bytes())
                .all(|(a, b)| fold_header_byte(a) == fold_header_byte(b))
    }

    /// Every header of `req` (name as sent, value) that an upstream reads as `name`.
    pub fn headers<'r, 'n>(
        req: &'r Request,
        name: &'n str,
    ) -> impl Iterator<Item = (&'r str, &'r str)> + use<'r, 'n> {
        req.headers.iter().filter_map(move |(key, value)| {
            same_header(key, name).then_some((key.as_str(), value.as_str()))
        })
    }

    /// A query or cookie name in the one form every spelling of it folds to.
    pub fn fold_name(raw: &str) -> String {
        folded_chars(&percent_decode(raw, true)).collect()
    }

    /// The characters of [`fold_name`] for an already decoded name.
    fn folded_chars(decoded: &str) -> impl Iterator<Item = char> + '_ {
        decoded.trim_start_matches(' ').chars().map(|c| match c {
            ' ' | '.' => '_',
            other => other.to_ascii_lowercase(),
        })
    }

    /// One `name=value` piece of a query string or `Cookie` header, with the separator
    /// that ended it (none for the last).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Pair<'a> {
        /// The whole piece as sent, without surrounding spaces.
        pub raw: &'a str,
        pub name: &'a str,
        pub value: &'a str,
        pub separator: Option<char>,
    }

    impl<'a> Pair<'a> {
        /// Whether an upstream may read this pair as the variable `folded` (from
        /// [`fold_name`]).
        ///
        /// Folded as it is compared, so nothing is allocated unless the name holds escapes:
        /// every pair of every query string and `Cookie` header comes through here.
        pub fn is_named(&self, folded: &str) -> bool {
            let decoded = percent_decode(self.name, true);
            let mut name = folded_chars(&decoded);
            let mut wanted = folded.chars();
            loop {
                match (name.next(), wanted.next()) {
                    (None, None) => return true,
                    // `name[]=` and `name[key]=` are `name` to PHP and Rack: the name up to
                    // its first `[`.
                    (Some('['), None) => return !folded.contains('['),
                    (Some(a), Some(b)) if a == b => {}
                    _ => return false,
                }
            }
        }

        /// The value as an upstream decodes it; a DQUOTE-wrapped value is unwrapped
        /// (RFC 6265 §4.1.1 `cookie-value`).
        pub fn value(&self, plus_as_space: bool) -> Cow<'a, str> {
            let value = self.value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            percent_decode(value, plus_as_space)
        }
    }

    /// The pairs of a query string: split on `&` and `;`.
    pub fn query_pairs(query: &str) -> impl Iterator<Item = Pair<'_>> {
        pairs(query, &['&', ';'])
    }

    /// The pairs of a `Cookie` header: split on `;` and `,`.
    pub fn cookie_pairs(header: &str) -> impl Iterator<Item = Pair<'_>> {
        pairs(header, &[';', ','])
    }

    fn pairs<'a>(text: &'a str, separators: &'a [char]) -> impl Iterator<Item = Pair<'a>> {
        let mut rest = Some(text);
        std::iter::from_fn(move || loop {
            let current = rest?;
            let (piece, separator) = match current.find(separators) {
                Some(at) => {
                    let separator = current.get(at..).and_then(|s| s.chars().next());
                    rest = current.get(at + 1..);
                    (current.get(..at).unwrap_or(""), separator)
                }
                None => {
                    rest = None;
                    (current, None)
                }
            };
            let raw = piece.trim_matches([' ', '\t']);
            if raw.is_empty() {
                continue;
            }
            let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
            return Some(Pair {
                raw,
                name: name.trim_matches([' ', '\t']),
                value,
                separator,
            });
        })
    }

    /// The pieces not named one of `folded`, each kept piece followed by its own separator
    /// (and a space when `spaced`, as in a `Cookie` header); `None` when every piece is kept.
    pub fn without<'a>(
        pieces: impl Iterator<Item = Pair<'a>>,
        folded: &[String],
        spaced: bool,
    ) -> Option<String> {
        let mut removed = false;
        let mut kept = String::new();
        let mut pending: Option<char> = None;
        for pair in pieces {
            if folded.iter().any(|name| pair.is_named(name)) {
                removed = true;
                continue;
            }
            if let Some(separator) = pending {
                kept.push(separator);
                if spaced {
                    kept.push(' ');
                }
            }
            kept.push_str(pair.raw);
            pending = pair.separator;
        }
        removed.then_some(kept)
    }

    /// Percent-decodes `text` (`+` as a space when asked); a `%` not followed by two hex
    /// digits is kept as is, as lenient decoders do. Bytes that are not UTF-8 become
    /// U+FFFD.
    pub fn percent_decode(text: &str, plus_as_space: bool) -> Cow<'_, str> {
        let needs_decoding = text.contains('%') || (plus_as_space && text.contains('+'));
        if !needs_decoding {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'%' => match (
                    bytes.get(i + 1).and_then(|h| hex(*h)),
                    bytes.get(i + 2).and_then(|l| hex(*l)),
                ) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                },
                b'+' if plus_as_space => out.push(b' '),
                other => out.push(other),
            }
            i += 1;
        }
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    fn hex(digit: u8) -> Option<u8> {
        char::from(digit)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
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
            peer: Default::default(),
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
    fn a_header_name_is_recognised_in_every_spelling_an_upstream_folds_to_it() {
        for sent in ["x-user-id", "X-User-Id", "x_user_id", "X_USER-ID"] {
            assert!(spelling::same_header(sent, "x-user-id"), "{sent}");
        }
        for sent in ["x-user-ids", "x-user-i", "x.user.id", "x-üser-id"] {
            assert!(!spelling::same_header(sent, "x-user-id"), "{sent}");
        }
    }

    /// [`spelling::Pair::is_named`] as it read before it stopped allocating: the folded
    /// name, or its part before the first `[`, equals the wanted name.
    fn is_named_by_folding(name: &str, folded: &str) -> bool {
        let name = spelling::fold_name(name);
        name == folded || name.split_once('[').is_some_and(|(base, _)| base == folded)
    }

    #[test]
    fn a_pair_name_is_compared_as_its_folded_form_would_be() {
        let names = [
            "access_token",
            "Access.Token",
            " access token",
            "access_token[]",
            "access_token[x][y]",
            "access_tokens",
            "access_toke",
            "access%5Ftoken",
            "access+token",
            "%20access_token",
            "access_token%5B%5D",
            "a[b",
            "a[b[c",
            "a",
            "",
            "[",
            "ACCESS_TOKEN[",
            "accéss_token",
        ];
        let wanted = ["access_token", "a[b", "a", "", "accéss_token"];
        for name in names {
            let pair = spelling::Pair {
                raw: name,
                name,
                value: "",
                separator: None,
            };
            for folded in wanted {
                assert_eq!(
                    pair.is_named(folded),
                    is_named_by_folding(name, folded),
                    "{name:?} as {folded:?}"
                );
            }
        }
    }

    #[test]
    fn a_query_name_is_recognised_in_every_spelling_an_upstream_decodes() {
        for path in [
            "/x?access%5Ftoken=q1",
            "/x?access%5ftoken=q1",
            "/x?ACCESS_TOKEN=q1",
            "/x?Access_Token=q1",
            "/x?access.token=q1",
            "/x?access+token=q1",
            "/x?access%20token=q1",
            "/x?access_token[]=q1",
            "/x?a=1;access_token=q1",
            "/x?access_token=%71%31",
        ] {
            let r = req(path, &[]);
            assert_eq!(token_of(&r), Some(("q1".into(), 1)), "{path}");
        }
    }

    #[test]
    fn a_second_token_under_another_query_spelling_is_ambiguous() {
        for path in [
            "/x?access_token=a&access%5Ftoken=b",
            "/x?access_token=a&ACCESS_TOKEN=b",
            "/x?access_token=a;access_token=b",
        ] {
            let r = req(path, &[]);
            assert_eq!(
                find_token(&all(), &r),
                Err(ExtractError::Ambiguous),
                "{path}"
            );
        }
    }

    #[test]
    fn cookies_are_split_on_commas_and_their_names_folded() {
        for header in [
            "theme=dark, session=c1",
            "theme=dark,session=c1",
            "SESSION=c1",
            "%73ession=c1; theme=dark",
            "theme=dark; Session=\"c1\"",
        ] {
            let r = req("/x", &[("cookie", header)]);
            assert_eq!(token_of(&r), Some(("c1".into(), 2)), "{header}");
        }
        let r = req("/x", &[("cookie", "session=a, session=b")]);
        assert_eq!(find_token(&all(), &r), Err(ExtractError::Ambiguous));
    }

    #[test]
    fn a_token_header_is_recognised_under_its_underscore_spelling() {
        let sources = [TokenSource::Header {
            name: "x-jwt".into(),
            prefix: String::new(),
        }];
        let r = req("/", &[("x_jwt", "abc")]);
        assert_eq!(find_token(&sources, &r).unwrap().unwrap().token, "abc");
        let r = req("/", &[("x-jwt", "abc"), ("x_jwt", "forged")]);
        assert_eq!(find_token(&sources, &r), Err(ExtractError::Ambiguous));
    }

    #[test]
    fn removal_takes_out_every_query_spelling_and_keeps_the_other_pairs_as_sent() {
        let cases = [
            ("/x?access%5Ftoken=t&a=1", "/x?a=1"),
            ("/x?a=1;ACCESS_TOKEN=t;b=2", "/x?a=1;b=2"),
            ("/x?a=1&access_token=t&access.token=t", "/x?a=1"),
            ("/x?access_token[]=t", "/x"),
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
    fn removal_takes_out_a_cookie_hidden_behind_a_comma() {
        let r = req("/", &[("cookie", "theme=dark, session=forged")]);
        assert_eq!(
            removal_edits(&all(), &r),
            vec![HeaderEdit::Set {
                name: "cookie".into(),
                value: "theme=dark".into()
            }]
        );
    }

    #[test]
    fn removal_takes_out_every_cookie_header_spelling_of_the_name() {
        let r = req(
            "/",
            &[("cookie", "SESSION=a; lang=en"), ("cookie", "Sess%69on=b")],
        );
        assert_eq!(
            removal_edits(&all(), &r),
            vec![HeaderEdit::Set {
                name: "cookie".into(),
                value: "lang=en".into()
            }]
        );
    }

    #[test]
    fn removal_takes_out_a_token_header_under_every_spelling() {
        let sources = [TokenSource::Header {
            name: "x-jwt".into(),
            prefix: String::new(),
        }];
        let r = req("/", &[("x-jwt", "a"), ("x_jwt", "b")]);
        assert_eq!(
            removal_edits(&sources, &r),
            vec![
                HeaderEdit::Remove {
                    name: "x-jwt".into()
                },
                HeaderEdit::Remove {
                    name: "x_jwt".into()
                }
            ]
        );
    }

    #[test]
    fn removal_of_nothing_is_no_edit() {
        let r = req("/x?a=1", &[("cookie", "a=1")]);
        assert_eq!(removal_edits(&all(), &r), vec![]);
    }
}
