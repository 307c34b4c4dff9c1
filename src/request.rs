//! The request as the core sees it: plain values copied out of the host once.

use crate::peer::Peer;

/// An HTTP request's routing-relevant parts. Header names are lowercase
/// (HTTP/2 and Envoy's header maps already are); values are as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The `:path` pseudo-header: path plus query string.
    pub path: String,
    /// The `:authority` (or `host`) of the request.
    pub host: String,
    pub headers: Vec<(String, String)>,
    /// Envoy's `xds.route_name`, when the host provides one.
    pub route_name: Option<String>,
    /// The downstream connection's peer, as far as the policy reads it.
    pub peer: Peer,
}

impl Request {
    /// The first value of a header; `name` must be lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of a header, in order; `name` must be lowercase.
    pub fn headers_named<'r, 'n>(
        &'r self,
        name: &'n str,
    ) -> impl Iterator<Item = &'r str> + use<'r, 'n> {
        self.headers
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(path, _)| path)
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, query)| query)
    }
}

/// How [`canonical_path`] treats the spellings upstreams disagree on; the configuration's
/// `paths` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathPolicy {
    pub escaped_slashes: EscapedSlashes,
    pub matrix_parameters: MatrixParameters,
    /// Match paths ignoring ASCII case (for upstreams that do: IIS, most Windows hosts).
    pub case_insensitive: bool,
}

/// `%2F`, `%5C` and a literal `\`: a decoding upstream (or one on Windows) reads them as a
/// path separator, a non-decoding one as part of a segment. No single canonical form
/// serves both, so by default the request is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Refuse the request (`path_escaped_slash`).
    #[default]
    Reject,
    /// Read them as `/` (the upstream decodes them, as Envoy's `UNESCAPE_AND_FORWARD`).
    Decode,
    /// Leave them inside their segment (the upstream never decodes them).
    Keep,
}

/// `;params` in a segment (RFC 3986 §3.3): Tomcat, Jetty and Spring drop them before
/// routing, so `/admin;x=1` is `/admin` there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatrixParameters {
    /// Match on each segment without its parameters.
    #[default]
    Strip,
    /// `;` is an ordinary character of the segment.
    Keep,
}

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path (`*`, an absolute URI, empty).
    NotAbsolute,
    /// A `%` not followed by two hex digits: upstreams disagree on what it means.
    BadEscape,
    /// A control character, raw or percent-encoded (`%00` truncates C strings upstream).
    ControlCharacter,
    /// `%2F`, `%5C` or `\` while [`EscapedSlashes::Reject`].
    EscapedSlash,
    /// A dot segment hidden behind matrix parameters (`/..;x/`): Tomcat walks up, other
    /// upstreams do not.
    AmbiguousDotSegment,
}

/// The method and path as rules match them: one form for the filter and `explain` alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Upper-case: HTTP/2 lets a client send `post`, and many upstreams route it as `POST`.
    pub method: String,
    /// See [`canonical_path`].
    pub path: String,
}

impl Request {
    /// The canonical method and path of this request under `policy`.
    pub fn target(&self, policy: &PathPolicy) -> Result<Target, PathError> {
        Ok(Target {
            method: self.method.to_ascii_uppercase(),
            path: canonical_path(self.path_only(), policy)?,
        })
    }
}

/// The path as the rules see it: percent-escapes of unreserved characters decoded and the
/// others upper-cased (RFC 3986 §6.2.2), escaped slashes as `policy` says, matrix
/// parameters dropped (by default), empty segments merged, dot segments resolved (RFC 3986
/// §5.2.4), no trailing `/` (except the root), lower-cased when case-insensitive.
///
/// Each step closes a way a client could pick another rule than the one the upstream's
/// router picks: `/v1/orders/12/refunds/`, `/admin;x`, `/ADMIN`, `/x/..%2Fadmin`,
/// `/%61dmin` all name the resource some upstream serves as `/admin`-like paths.
pub fn canonical_path(path: &str, policy: &PathPolicy) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path, policy.escaped_slashes)?;
    // Built segment by segment: each kept segment is `/` and its text (no segment holds a
    // `/`), so `..` drops everything from the last `/`.
    let mut canonical = String::with_capacity(decoded.len());
    for raw in decoded.split('/') {
        let segment = match policy.matrix_parameters {
            MatrixParameters::Strip => match raw.split_once(';') {
                Some((name, _)) if name == "." || name == ".." => {
                    return Err(PathError::AmbiguousDotSegment)
                }
                Some((name, _)) => name,
                None => raw,
            },
            MatrixParameters::Keep => raw,
        };
        match segment {
            "" | "." => {}
            ".." => canonical.truncate(canonical.rfind('/').unwrap_or(0)),
            other => {
                canonical.push('/');
                canonical.push_str(other);
            }
        }
    }
    if canonical.is_empty() {
        canonical.push('/');
    }
    if policy.case_insensitive {
        canonical.make_ascii_lowercase();
    }
    Ok(canonical)
}

/// Decodes `%XX` of unreserved characters, upper-cases the hex of the others, and applies
/// the escaped-slash policy to `%2F`, `%5C` and `\`.
fn decode_unreserved(path: &str, slashes: EscapedSlashes) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == 0x7f {
            return Err(PathError::ControlCharacter);
        }
        if b == b'\\' {
            push_slash(&mut out, slashes, "\\")?;
            i += 1;
            continue;
        }
        if b != b'%' {
            // Multi-byte UTF-8 is copied byte for byte through the char it belongs to.
            let ch_len = path
                .get(i..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            out.push_str(path.get(i..i + ch_len).unwrap_or(""));
            i += ch_len;
            continue;
        }
        let high = bytes.get(i + 1).and_then(|h| char::from(*h).to_digit(16));
        let low = bytes.get(i + 2).and_then(|l| char::from(*l).to_digit(16));
        let (Some(high), Some(low)) = (high, low) else {
            return Err(PathError::BadEscape);
        };
        let byte = u8::try_from(high * 16 + low).unwrap_or(0);
        match byte {
            b'/' => push_slash(&mut out, slashes, "%2F")?,
            b'\\' => push_slash(&mut out, slashes, "%5C")?,
            b if b < 0x20 || b == 0x7f => return Err(PathError::ControlCharacter),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                out.push(char::from(b));
            }
            b => {
                out.push('%');
                out.push_str(&format!("{b:02X}"));
            }
        }
        i += 3;
    }
    Ok(out)
}

fn push_slash(out: &mut String, slashes: EscapedSlashes, kept: &str) -> Result<(), PathError> {
    match slashes {
        EscapedSlashes::Reject => return Err(PathError::EscapedSlash),
        EscapedSlashes::Decode => out.push('/'),
        EscapedSlashes::Keep => out.push_str(kept),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(path: &str) -> Result<String, PathError> {
        canonical_path(path, &PathPolicy::default())
    }

    #[test]
    fn spellings_of_one_path_share_one_canonical_form() {
        let cases = [
            ("/v1/orders/12/refunds/", "/v1/orders/12/refunds"),
            ("/v1//orders///12/refunds", "/v1/orders/12/refunds"),
            ("/v1/./orders/x/../12/refunds", "/v1/orders/12/refunds"),
            (
                "/v1/orders;jsessionid=1/12/refunds;x",
                "/v1/orders/12/refunds",
            ),
            ("/%76%31/orders/%31%32/refunds", "/v1/orders/12/refunds"),
            ("/v1/%2e%2e/v1/orders/12/refunds", "/v1/orders/12/refunds"),
            ("/../../v1/orders/12/refunds", "/v1/orders/12/refunds"),
            ("/", "/"),
            ("//", "/"),
            ("/a/..", "/"),
        ];
        for (path, want) in cases {
            assert_eq!(canon(path).as_deref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn escapes_of_reserved_characters_stay_escaped_in_upper_case() {
        assert_eq!(canon("/a%3fb%3Bc%c3%a9").as_deref(), Ok("/a%3Fb%3Bc%C3%A9"));
    }

    #[test]
    fn encoded_slashes_and_backslashes_are_refused_by_default() {
        for path in ["/x/..%2Fadmin/users", "/x/%2f", "/x%5Cadmin", "/x\\admin"] {
            assert_eq!(canon(path), Err(PathError::EscapedSlash), "{path}");
        }
    }

    #[test]
    fn encoded_slashes_can_be_decoded_or_kept_as_configured() {
        let decode = PathPolicy {
            escaped_slashes: EscapedSlashes::Decode,
            ..PathPolicy::default()
        };
        assert_eq!(
            canonical_path("/x/..%2Fadmin/users", &decode).as_deref(),
            Ok("/admin/users")
        );
        assert_eq!(canonical_path("/x\\y", &decode).as_deref(), Ok("/x/y"));
        let keep = PathPolicy {
            escaped_slashes: EscapedSlashes::Keep,
            ..PathPolicy::default()
        };
        assert_eq!(canonical_path("/x/a%2fb", &keep).as_deref(), Ok("/x/a%2Fb"));
    }

    #[test]
    fn what_upstreams_read_differently_is_refused() {
        let cases = [
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("http://h/x", PathError::NotAbsolute),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/a%00b", PathError::ControlCharacter),
            ("/a%0Ab", PathError::ControlCharacter),
            ("/a\tb", PathError::ControlCharacter),
            ("/public/..;/admin", PathError::AmbiguousDotSegment),
            ("/public/.;x/admin", PathError::AmbiguousDotSegment),
        ];
        for (path, want) in cases {
            assert_eq!(canon(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn matrix_parameters_can_be_kept_as_part_of_the_segment() {
        let keep = PathPolicy {
            matrix_parameters: MatrixParameters::Keep,
            ..PathPolicy::default()
        };
        assert_eq!(canonical_path("/a;x/b", &keep).as_deref(), Ok("/a;x/b"));
    }

    #[test]
    fn case_insensitive_matching_lowercases_the_path() {
        let fold = PathPolicy {
            case_insensitive: true,
            ..PathPolicy::default()
        };
        assert_eq!(
            canonical_path("/ADMIN/Users", &fold).as_deref(),
            Ok("/admin/users")
        );
        assert_eq!(canon("/ADMIN").as_deref(), Ok("/ADMIN"));
    }

    #[test]
    fn the_method_is_upper_cased() {
        let request = Request {
            method: "post".into(),
            path: "/x?y".into(),
            ..Request::default()
        };
        let target = request.target(&PathPolicy::default()).unwrap();
        assert_eq!(target.method, "POST");
        assert_eq!(target.path, "/x");
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        for path in ["/a/./b/../c/", "/%7Euser/x;y", "/a%2Fb", "/A//B/"] {
            for policy in [
                PathPolicy::default(),
                PathPolicy {
                    escaped_slashes: EscapedSlashes::Keep,
                    matrix_parameters: MatrixParameters::Keep,
                    case_insensitive: true,
                },
            ] {
                if let Ok(once) = canonical_path(path, &policy) {
                    assert_eq!(canonical_path(&once, &policy), Ok(once.clone()), "{path}");
                }
            }
        }
    }
}
