//! Request matchers: path, method, host, headers, Envoy route name.

use super::peer::{PeerMatch, PeerMismatch};
use super::Pattern;
use crate::request::{Request, Target};
use std::fmt;

/// The most segments a path template may have; real routes have fewer than ten.
pub const MAX_TEMPLATE_SEGMENTS: usize = 32;

/// What a rule's `match` requires; every present part must hold (an empty match
/// matches every request).
#[derive(Debug, Clone, Default)]
pub struct RequestMatch {
    pub path: Option<PathMatcher>,
    /// Upper-case methods, any of; empty = any method.
    pub methods: Vec<String>,
    /// Any of; empty = any host.
    pub hosts: Vec<HostPattern>,
    /// All of.
    pub headers: Vec<HeaderMatcher>,
    pub route_name: Option<String>,
    /// The downstream connection's peer (mTLS, SANs, subject).
    pub peer: Option<PeerMatch>,
}

/// Which part of a match failed. Cheap to produce on the request path; the explain
/// form renders it with [`Mismatch::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    Path,
    Method,
    Host,
    /// The header matcher at this index.
    Header(usize),
    RouteName,
    Peer(PeerMismatch),
}

impl RequestMatch {
    /// Whether the request matches; method and path are read from its canonical `target`.
    pub fn matches(&self, req: &Request, target: &Target) -> bool {
        self.visit(req, target, |_| false)
    }

    /// Every part that does not match (empty when the request matches).
    pub fn mismatches(&self, req: &Request, target: &Target) -> Vec<Mismatch> {
        let mut out = Vec::new();
        self.visit(req, target, |m| {
            out.push(m);
            true
        });
        out
    }

    /// The one matching routine. `on_mismatch` returns whether to keep checking.
    fn visit(
        &self,
        req: &Request,
        target: &Target,
        mut on_mismatch: impl FnMut(Mismatch) -> bool,
    ) -> bool {
        let mut matched = true;
        let mut fail = |m: Mismatch| {
            matched = false;
            on_mismatch(m)
        };
        if let Some(path) = &self.path {
            if !path.matches(&target.path) && !fail(Mismatch::Path) {
                return false;
            }
        }
        if !self.methods.is_empty()
            && !self.methods.contains(&target.method)
            && !fail(Mismatch::Method)
        {
            return false;
        }
        if !self.hosts.is_empty() {
            let host = host_without_port(&req.host);
            if !self.hosts.iter().any(|h| h.matches(host)) && !fail(Mismatch::Host) {
                return false;
            }
        }
        for (index, header) in self.headers.iter().enumerate() {
            if !header.matches(req) && !fail(Mismatch::Header(index)) {
                return false;
            }
        }
        if let Some(route) = &self.route_name {
            if req.route_name.as_deref() != Some(route.as_str()) && !fail(Mismatch::RouteName) {
                return false;
            }
        }
        if let Some(peer) = &self.peer {
            if let Some(mismatch) = peer.first_mismatch(&req.peer) {
                if !fail(Mismatch::Peer(mismatch)) {
                    return false;
                }
            }
        }
        matched
    }
}

impl Mismatch {
    /// A sentence for the explain output.
    pub fn describe(&self, m: &RequestMatch, req: &Request, target: &Target) -> String {
        match self {
            Mismatch::Path => match &m.path {
                Some(p) => format!("path {:?} does not match {p}", target.path),
                None => "path".to_owned(),
            },
            Mismatch::Method => {
                format!("method {:?} is not one of {:?}", target.method, m.methods)
            }
            Mismatch::Host => {
                let hosts: Vec<String> = m.hosts.iter().map(ToString::to_string).collect();
                format!("host {:?} is not one of {hosts:?}", req.host)
            }
            Mismatch::Header(i) => match m.headers.get(*i) {
                Some(h) => format!("header {h} does not hold"),
                None => "header".to_owned(),
            },
            Mismatch::RouteName => format!(
                "route name {:?} is not {:?}",
                req.route_name.as_deref().unwrap_or(""),
                m.route_name.as_deref().unwrap_or("")
            ),
            Mismatch::Peer(mismatch) => match &m.peer {
                Some(p) => p.describe(*mismatch, &req.peer),
                None => "peer".to_owned(),
            },
        }
    }
}

/// How a rule matches the path (query string excluded).
///
/// The path matched is the request's canonical path ([`crate::request::canonical_path`]),
/// and exact and prefix patterns are made canonical the same way at load time, so
/// `/admin/../x`, `//admin`, `%2e%2e`, `/admin;x` or `/admin/` cannot reach a route that a
/// rule meant to protect under another spelling.
#[derive(Debug, Clone)]
pub enum PathMatcher {
    Exact(String),
    /// Plain string prefix, as Envoy's route `prefix`; one ending in `/` also matches the
    /// path without it (`/api/` matches `/api`, which is how `/api/` reads canonically).
    Prefix(String),
    Template(PathTemplate),
    /// Full match of the path.
    Regex(Pattern),
}

impl PathMatcher {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => path == p,
            PathMatcher::Prefix(p) => {
                path.starts_with(p.as_str()) || (p.len() > 1 && p.strip_suffix('/') == Some(path))
            }
            PathMatcher::Template(t) => t.matches(path),
            PathMatcher::Regex(r) => r.is_match(path),
        }
    }
}

impl fmt::Display for PathMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatcher::Exact(p) => write!(f, "exact {p:?}"),
            PathMatcher::Prefix(p) => write!(f, "prefix {p:?}"),
            PathMatcher::Template(t) => write!(f, "template {:?}", t.source),
            PathMatcher::Regex(r) => write!(f, "regex {:?}", r.source()),
        }
    }
}

/// A path template: `/admin/{tenant}/**`. `{name}` and `*` match one non-empty
/// segment, `**` (last only) matches any rest, including nothing.
///
/// The same machinery reads a peer's URI SAN ([`PathTemplate::parse_identity`]):
/// `spiffe://{trust_domain}/ns/{namespace}/sa/{sa}` is `/`-separated segments too, and its
/// variables are captures a claim condition can compare with ([`PathTemplate::capture`]).
#[derive(Debug, Clone)]
pub struct PathTemplate {
    source: String,
    segments: Vec<TemplateSegment>,
    /// Each `{name}` with the index of the segment it fills.
    variables: Vec<(String, usize)>,
    /// A path (starts with `/`, which is not a segment) rather than an identity.
    rooted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplateSegment {
    Literal(String),
    /// `{name}` or `*`.
    One,
    /// `**`.
    Rest,
}

/// Why a path template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Templates start with `/`.
    NotAbsolute,
    /// `**` may only be the last segment.
    RestNotLast,
    /// `{` `}` `*` inside a segment with other text, e.g. `/v1/{id}.json`.
    PartialSegment(String),
    /// `{}` or a name with characters other than letters, digits and `_`.
    BadVariable(String),
    DuplicateVariable(String),
    TooManySegments,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::NotAbsolute => f.write_str("template must start with '/'"),
            TemplateError::RestNotLast => f.write_str("'**' may only be the last segment"),
            TemplateError::PartialSegment(s) => write!(
                f,
                "segment {s:?} mixes text with a wildcard or variable; they must fill the whole segment"
            ),
            TemplateError::BadVariable(s) => write!(f, "variable {s:?} must be {{name}} with letters, digits or '_'"),
            TemplateError::DuplicateVariable(s) => write!(f, "variable {s:?} appears twice"),
            TemplateError::TooManySegments => {
                write!(f, "template has more than {MAX_TEMPLATE_SEGMENTS} segments")
            }
        }
    }
}

impl PathTemplate {
    pub fn parse(source: &str) -> Result<PathTemplate, TemplateError> {
        let rest = source.strip_prefix('/').ok_or(TemplateError::NotAbsolute)?;
        Self::parse_segments(source, rest, true)
    }

    /// A template for an identity such as a SPIFFE ID: segments split on `/` from the first
    /// character (`spiffe:`, ``, the trust domain, ...).
    pub fn parse_identity(source: &str) -> Result<PathTemplate, TemplateError> {
        Self::parse_segments(source, source, false)
    }

    fn parse_segments(
        source: &str,
        rest: &str,
        rooted: bool,
    ) -> Result<PathTemplate, TemplateError> {
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() > MAX_TEMPLATE_SEGMENTS {
            return Err(TemplateError::TooManySegments);
        }
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = if *part == "**" {
                if i + 1 != parts.len() {
                    return Err(TemplateError::RestNotLast);
                }
                TemplateSegment::Rest
            } else if *part == "*" {
                TemplateSegment::One
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let valid = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(TemplateError::BadVariable((*part).to_owned()));
                }
                if names.iter().any(|(known, _)| known == name) {
                    return Err(TemplateError::DuplicateVariable(name.to_owned()));
                }
                names.push((name.to_owned(), i));
                TemplateSegment::One
            } else if part.contains(['{', '}', '*']) {
                return Err(TemplateError::PartialSegment((*part).to_owned()));
            } else {
                TemplateSegment::Literal((*part).to_owned())
            };
            segments.push(segment);
        }
        Ok(PathTemplate {
            source: source.to_owned(),
            segments,
            variables: names,
            rooted,
        })
    }

    /// The segment a `{name}` fills, if the template has that variable.
    pub fn variable(&self, name: &str) -> Option<usize> {
        self.variables
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, segment)| *segment)
    }

    /// The variables' names, in order.
    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(|(name, _)| name.as_str())
    }

    /// The text of segment `segment` of `text`, when `text` matches the template. Segments
    /// before a trailing `**` line up one to one, so a variable is the segment at its index:
    /// nothing is allocated.
    pub fn capture<'t>(&self, text: &'t str, segment: usize) -> Option<&'t str> {
        if !self.matches(text) {
            return None;
        }
        self.split(text)?.nth(segment)
    }

    fn split<'t>(&self, text: &'t str) -> Option<std::str::Split<'t, char>> {
        let rest = if self.rooted {
            text.strip_prefix('/')?
        } else {
            text
        };
        Some(rest.split('/'))
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The literal segments before the first variable or wildcard, as a path prefix every
    /// matching path starts with (`/admin/{tenant}/**` → `/admin/`).
    pub fn literal_prefix(&self) -> String {
        let mut prefix = String::from("/");
        for segment in &self.segments {
            match segment {
                TemplateSegment::Literal(lit) => {
                    prefix.push_str(lit);
                    prefix.push('/');
                }
                TemplateSegment::One | TemplateSegment::Rest => return prefix,
            }
        }
        prefix
    }

    pub fn matches(&self, path: &str) -> bool {
        let Some(mut parts) = self.split(path) else {
            return false;
        };
        for segment in &self.segments {
            match segment {
                TemplateSegment::Rest => return true,
                TemplateSegment::One => match parts.next() {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                TemplateSegment::Literal(lit) => match parts.next() {
                    Some(part) if part == lit => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

/// A host pattern: exact, `*.suffix` (one or more labels), or `*` (any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Any,
    Exact(String),
    /// Holds `.example.com` for `*.example.com`.
    Suffix(String),
}

impl HostPattern {
    /// Lowercases; `*` and a leading `*.` are the only wildcards.
    pub fn parse(pattern: &str) -> Option<HostPattern> {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        if pattern == "*" {
            return Some(HostPattern::Any);
        }
        let (suffix, body) = match pattern.strip_prefix('*') {
            Some(rest) if rest.starts_with('.') => (true, rest.get(1..).unwrap_or("")),
            Some(_) => return None,
            None => (false, pattern.as_str()),
        };
        let valid = !body.is_empty()
            && body.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
            });
        if !valid {
            return None;
        }
        Some(if suffix {
            HostPattern::Suffix(format!(".{body}"))
        } else {
            HostPattern::Exact(body.to_owned())
        })
    }

    /// `host` is already without port.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Suffix(s) => write!(f, "*{s}"),
        }
    }
}

/// `:authority` without its port: `api.example.com:8443` → `api.example.com`,
/// `[::1]:80` → `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A header condition. Repeated headers match when any value matches;
/// `present: false` holds only when no value is present.
#[derive(Debug, Clone)]
pub struct HeaderMatcher {
    /// Lowercase.
    pub name: String,
    pub test: HeaderTest,
}

#[derive(Debug, Clone)]
pub enum HeaderTest {
    Exact(String),
    Prefix(String),
    Regex(Pattern),
    Present(bool),
}

impl HeaderMatcher {
    pub fn matches(&self, req: &Request) -> bool {
        let mut values = req.headers_named(&self.name);
        match &self.test {
            HeaderTest::Present(want) => values.next().is_some() == *want,
            HeaderTest::Exact(v) => values.any(|x| x == v),
            HeaderTest::Prefix(p) => values.any(|x| x.starts_with(p.as_str())),
            HeaderTest::Regex(r) => values.any(|x| r.is_match(x)),
        }
    }
}

impl fmt::Display for HeaderMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            HeaderTest::Exact(v) => write!(f, "{} exact {v:?}", self.name),
            HeaderTest::Prefix(v) => write!(f, "{} prefix {v:?}", self.name),
            HeaderTest::Regex(r) => write!(f, "{} regex {:?}", self.name, r.source()),
            HeaderTest::Present(b) => write!(f, "{} present {b}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, host: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            host: host.into(),
            headers: vec![
                ("x-env".into(), "prod".into()),
                ("x-env".into(), "blue".into()),
            ],
            route_name: Some("admin".into()),
            ..Request::default()
        }
    }

    fn target(r: &Request) -> Target {
        r.target(&crate::request::PathPolicy::default()).unwrap()
    }

    fn matches(m: &RequestMatch, r: &Request) -> bool {
        m.matches(r, &target(r))
    }

    #[test]
    fn path_matchers_ignore_the_query() {
        let cases: Vec<(PathMatcher, &str, bool)> = vec![
            (PathMatcher::Exact("/a".into()), "/a?x=1", true),
            (PathMatcher::Exact("/a".into()), "/a/", true),
            (PathMatcher::Prefix("/health".into()), "/healthz", true),
            (PathMatcher::Prefix("/health".into()), "/x/health", false),
            (
                PathMatcher::Regex(Pattern::new("/v0/.*").unwrap()),
                "/v0/x?y",
                true,
            ),
            (
                PathMatcher::Regex(Pattern::new("/v0").unwrap()),
                "/v0/x",
                false,
            ),
        ];
        for (m, path, want) in cases {
            let text = format!("{m} on {path}");
            let r = req("GET", path, "h");
            assert_eq!(m.matches(&target(&r).path), want, "{text}");
        }
    }

    #[test]
    fn templates_match_segments() {
        let cases = [
            ("/admin/{tenant}/**", "/admin/t1/users/7", true),
            ("/admin/{tenant}/**", "/admin/t1", true),
            ("/admin/{tenant}/**", "/admin/t1/", true),
            ("/admin/{tenant}/**", "/admin", false),
            ("/admin/{tenant}/**", "/admin//x", false),
            ("/users/*/orders", "/users/7/orders", true),
            ("/users/*/orders", "/users/7/orders/1", false),
            ("/users/*/orders", "/users/7/8/orders", false),
            ("/users/{id}", "/users/", false),
            ("/", "/", true),
            ("/", "/x", false),
            ("/**", "/anything/at/all", true),
            ("/a/b", "/a/b", true),
            ("/a/b", "/a/c", false),
        ];
        for (template, path, want) in cases {
            let t = PathTemplate::parse(template).unwrap();
            assert_eq!(t.matches(path), want, "{template} on {path}");
        }
    }

    #[test]
    fn identity_templates_capture_their_variables() {
        let t =
            PathTemplate::parse_identity("spiffe://{trust_domain}/ns/{namespace}/sa/{sa}").unwrap();
        let id = "spiffe://cluster.local/ns/shop/sa/orders";
        assert!(t.matches(id));
        let capture = |name: &str| t.capture(id, t.variable(name).unwrap());
        assert_eq!(capture("trust_domain"), Some("cluster.local"));
        assert_eq!(capture("namespace"), Some("shop"));
        assert_eq!(capture("sa"), Some("orders"));
        assert_eq!(t.variable("pod"), None);
        assert_eq!(
            t.variable_names().collect::<Vec<_>>(),
            ["trust_domain", "namespace", "sa"]
        );
        for other in [
            "spiffe://cluster.local/ns/shop/sa/orders/x",
            "spiffe://cluster.local/ns/shop/sa/",
            "spiffe://cluster.local/ns//sa/orders",
            "spiffe:/cluster.local/ns/shop/sa/orders",
            "https://cluster.local/ns/shop/sa/orders",
            "/ns/shop/sa/orders",
        ] {
            assert!(!t.matches(other), "{other}");
            assert_eq!(t.capture(other, 2), None, "{other}");
        }
    }

    #[test]
    fn path_templates_capture_relative_to_the_root() {
        let t = PathTemplate::parse("/admin/{tenant}/**").unwrap();
        assert_eq!(
            t.capture("/admin/t1/x/y", t.variable("tenant").unwrap()),
            Some("t1")
        );
        assert_eq!(t.capture("/other/t1", 1), None);
    }

    #[test]
    fn malformed_templates_are_refused() {
        let cases = [
            ("admin/x", TemplateError::NotAbsolute),
            ("/a/**/b", TemplateError::RestNotLast),
            (
                "/v1/{id}.json",
                TemplateError::PartialSegment("{id}.json".into()),
            ),
            ("/v1/a*", TemplateError::PartialSegment("a*".into())),
            ("/v1/{}", TemplateError::BadVariable("{}".into())),
            ("/v1/{a-b}", TemplateError::BadVariable("{a-b}".into())),
            ("/{a}/{a}", TemplateError::DuplicateVariable("a".into())),
        ];
        for (template, want) in cases {
            assert_eq!(
                PathTemplate::parse(template).unwrap_err(),
                want,
                "{template}"
            );
        }
        let long = "/a".repeat(MAX_TEMPLATE_SEGMENTS + 1);
        assert_eq!(
            PathTemplate::parse(&long).unwrap_err(),
            TemplateError::TooManySegments
        );
    }

    #[test]
    fn hosts_match_case_insensitively_without_port() {
        let cases = [
            ("api.example.com", "API.example.com:8443", true),
            ("api.example.com", "api.example.com.", true),
            ("api.example.com", "web.example.com", false),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "a.b.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "badexample.com", false),
            ("*", "anything:1", true),
            ("[::1]", "[::1]:8080", true),
        ];
        for (pattern, host, want) in cases {
            let p = HostPattern::parse(pattern).unwrap();
            assert_eq!(
                p.matches(host_without_port(host)),
                want,
                "{pattern} on {host}"
            );
        }
    }

    #[test]
    fn bad_host_patterns_are_refused() {
        for pattern in ["", "a*.example.com", "*example.com", "a b", "ex/ample"] {
            assert_eq!(HostPattern::parse(pattern), None, "{pattern:?}");
        }
    }

    #[test]
    fn header_matchers_look_at_every_value() {
        let r = req("GET", "/", "h");
        let m = |name: &str, test: HeaderTest| HeaderMatcher {
            name: name.into(),
            test,
        };
        let cases = [
            (m("x-env", HeaderTest::Exact("blue".into())), true),
            (m("x-env", HeaderTest::Exact("dev".into())), false),
            (m("x-env", HeaderTest::Prefix("pr".into())), true),
            (
                m("x-env", HeaderTest::Regex(Pattern::new("b.*").unwrap())),
                true,
            ),
            (
                m("x-env", HeaderTest::Regex(Pattern::new("lue").unwrap())),
                false,
            ),
            (m("x-env", HeaderTest::Present(true)), true),
            (m("x-env", HeaderTest::Present(false)), false),
            (m("x-none", HeaderTest::Present(false)), true),
            (m("x-none", HeaderTest::Exact("".into())), false),
        ];
        for (matcher, want) in cases {
            assert_eq!(matcher.matches(&r), want, "{matcher}");
        }
    }

    #[test]
    fn request_match_requires_every_part_and_reports_each_mismatch() {
        let m = RequestMatch {
            path: Some(PathMatcher::Prefix("/admin".into())),
            methods: vec!["POST".into()],
            hosts: vec![HostPattern::parse("api.example.com").unwrap()],
            headers: vec![HeaderMatcher {
                name: "x-env".into(),
                test: HeaderTest::Exact("prod".into()),
            }],
            route_name: Some("admin".into()),
            peer: None,
        };
        assert!(matches(&m, &req("POST", "/admin/x", "api.example.com")));
        assert!(!matches(&m, &req("GET", "/admin/x", "api.example.com")));
        let mut other_route = req("POST", "/admin/x", "api.example.com");
        other_route.route_name = None;
        assert_eq!(
            m.mismatches(&other_route, &target(&other_route)),
            vec![Mismatch::RouteName]
        );
        let elsewhere = req("get", "/public", "web.example.com");
        assert_eq!(
            m.mismatches(&elsewhere, &target(&elsewhere)),
            vec![Mismatch::Path, Mismatch::Method, Mismatch::Host]
        );
        assert!(matches(&RequestMatch::default(), &req("GET", "/", "")));
    }

    #[test]
    fn mismatches_are_described_for_explain() {
        let m = RequestMatch {
            path: Some(PathMatcher::Exact("/a".into())),
            ..RequestMatch::default()
        };
        let r = req("GET", "/b?q", "h");
        assert_eq!(
            Mismatch::Path.describe(&m, &r, &target(&r)),
            "path \"/b\" does not match exact \"/a\""
        );
    }
}
