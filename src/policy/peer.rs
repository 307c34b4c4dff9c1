//! Rules on the downstream peer: which workload may call (`match.peer`, `require.peer`), and
//! the values claim conditions compare with (`equals_peer`).
//!
//! A mesh sidecar knows its caller from the mTLS handshake: Istio, Kuma and SPIRE put a
//! SPIFFE ID in the client certificate's URI SAN. Matching on it lets one rule say "this
//! service account, with a token whose `sub` is that same account", which `jwt_authn` and
//! RBAC can only say in two places that do not see each other.

use std::fmt;

use super::{PathTemplate, Pattern};
use crate::peer::{Peer, PeerField};

/// What a rule requires of the peer; every present part must hold.
#[derive(Debug, Clone, Default)]
pub struct PeerMatch {
    /// `true`: a client certificate the listener validated; `false`: none.
    pub mtls: Option<bool>,
    pub uri_san: Option<IdentityMatcher>,
    pub dns_san: Option<IdentityMatcher>,
    pub subject: Option<IdentityMatcher>,
}

/// A test on one peer identity value.
#[derive(Debug, Clone)]
pub enum IdentityMatcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// `spiffe://{trust_domain}/ns/{namespace}/sa/{sa}`: `/`-separated segments, variables
    /// captured for conditions (URI SANs only).
    Template(PathTemplate),
    /// Full match.
    Regex(Pattern),
}

impl IdentityMatcher {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            IdentityMatcher::Exact(v) => value == v,
            IdentityMatcher::Prefix(p) => value.starts_with(p.as_str()),
            IdentityMatcher::Suffix(s) => value.ends_with(s.as_str()),
            IdentityMatcher::Template(t) => t.matches(value),
            IdentityMatcher::Regex(r) => r.is_match(value),
        }
    }
}

impl fmt::Display for IdentityMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityMatcher::Exact(v) => write!(f, "exact {v:?}"),
            IdentityMatcher::Prefix(v) => write!(f, "prefix {v:?}"),
            IdentityMatcher::Suffix(v) => write!(f, "suffix {v:?}"),
            IdentityMatcher::Template(t) => write!(f, "template {:?}", t.source()),
            IdentityMatcher::Regex(r) => write!(f, "regex {:?}", r.source()),
        }
    }
}

/// The part of a [`PeerMatch`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMismatch {
    Mtls,
    Field(PeerField),
}

impl PeerMatch {
    /// Whether the peer satisfies every part.
    pub fn matches(&self, peer: &Peer) -> bool {
        self.first_mismatch(peer).is_none()
    }

    /// The first part that fails, in the order mTLS, URI SAN, DNS SAN, subject.
    pub fn first_mismatch(&self, peer: &Peer) -> Option<PeerMismatch> {
        if self.mtls.is_some_and(|want| want != peer.mtls) {
            return Some(PeerMismatch::Mtls);
        }
        PeerField::ALL
            .into_iter()
            .find(|field| {
                self.matcher(*field)
                    .is_some_and(|m| !peer.field(*field).is_some_and(|v| m.matches(v)))
            })
            .map(PeerMismatch::Field)
    }

    pub fn matcher(&self, field: PeerField) -> Option<&IdentityMatcher> {
        match field {
            PeerField::UriSan => self.uri_san.as_ref(),
            PeerField::DnsSan => self.dns_san.as_ref(),
            PeerField::Subject => self.subject.as_ref(),
        }
    }

    /// The URI SAN template, whose variables conditions may name.
    pub fn template(&self) -> Option<&PathTemplate> {
        match &self.uri_san {
            Some(IdentityMatcher::Template(t)) => Some(t),
            _ => None,
        }
    }

    /// A sentence for explain.
    pub fn describe(&self, mismatch: PeerMismatch, peer: &Peer) -> String {
        match mismatch {
            PeerMismatch::Mtls => match self.mtls {
                Some(true) => "peer presented no client certificate (mtls)".to_owned(),
                _ => "peer presented a client certificate (mtls: false)".to_owned(),
            },
            PeerMismatch::Field(field) => {
                let want = self
                    .matcher(field)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match peer.field(field) {
                    Some(value) => format!("peer {field} {value:?} does not match {want}"),
                    None => format!("peer has no {field} (wanted {want})"),
                }
            }
        }
    }
}

/// The right-hand side of `equals_peer`: text with `{capture}` and `{peer.<field>}`
/// placeholders, e.g. `system:serviceaccount:{namespace}:{sa}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerExpr {
    source: String,
    parts: Vec<PeerPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PeerPart {
    Literal(String),
    /// A variable of the rule's URI SAN template: the segment it fills.
    Capture(usize),
    Field(PeerField),
}

/// Why an `equals_peer` expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerExprError {
    /// A `{` without its `}`, or a `}` without its `{`.
    Unbalanced,
    /// `{peer.x}` with an `x` that is not `uri_san`, `dns_san` or `subject`.
    UnknownField(String),
    /// `{name}` that the rule's URI SAN template does not define.
    UnknownCapture(String),
    /// No placeholder: the comparison would not involve the peer (use `equals`).
    NoPlaceholder,
}

impl fmt::Display for PeerExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerExprError::Unbalanced => f.write_str("a '{' or '}' without its pair"),
            PeerExprError::UnknownField(name) => write!(
                f,
                "{{peer.{name}}} is not a peer value (uri_san, dns_san, subject)"
            ),
            PeerExprError::UnknownCapture(name) => write!(
                f,
                "{{{name}}} is not a variable of the rule's peer uri_san template"
            ),
            PeerExprError::NoPlaceholder => f.write_str(
                "names no capture or peer value; compare with a fixed value using equals",
            ),
        }
    }
}

impl PeerExpr {
    /// Parses `source`; `template` is the rule's URI SAN template, if any.
    pub fn parse(source: &str, template: Option<&PathTemplate>) -> Result<PeerExpr, PeerExprError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let open = rest.find('{');
            let close = rest.find('}');
            match (open, close) {
                (None, None) => {
                    parts.push(PeerPart::Literal(rest.to_owned()));
                    break;
                }
                (Some(open), Some(close)) if open < close => {
                    if let Some(text) = rest.get(..open).filter(|t| !t.is_empty()) {
                        parts.push(PeerPart::Literal(text.to_owned()));
                    }
                    let name = rest.get(open + 1..close).unwrap_or_default();
                    parts.push(Self::placeholder(name, template)?);
                    rest = rest.get(close + 1..).unwrap_or_default();
                }
                _ => return Err(PeerExprError::Unbalanced),
            }
        }
        if !parts.iter().any(|p| !matches!(p, PeerPart::Literal(_))) {
            return Err(PeerExprError::NoPlaceholder);
        }
        Ok(PeerExpr {
            source: source.to_owned(),
            parts,
        })
    }

    fn placeholder(name: &str, template: Option<&PathTemplate>) -> Result<PeerPart, PeerExprError> {
        if name.contains('{') {
            return Err(PeerExprError::Unbalanced);
        }
        if let Some(field) = name.strip_prefix("peer.") {
            return PeerField::ALL
                .into_iter()
                .find(|f| f.name() == field)
                .map(PeerPart::Field)
                .ok_or_else(|| PeerExprError::UnknownField(field.to_owned()));
        }
        template
            .and_then(|t| t.variable(name))
            .map(PeerPart::Capture)
            .ok_or_else(|| PeerExprError::UnknownCapture(name.to_owned()))
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The peer values it reads (a capture reads the URI SAN).
    pub fn fields(&self) -> impl Iterator<Item = PeerField> + '_ {
        self.parts.iter().filter_map(|part| match part {
            PeerPart::Literal(_) => None,
            PeerPart::Capture(_) => Some(PeerField::UriSan),
            PeerPart::Field(field) => Some(*field),
        })
    }

    /// Whether `claim` equals the expression for this peer; `None` when a value it names is
    /// absent (no peer, no URI SAN, or one the template does not match). Compared piece by
    /// piece: nothing is allocated.
    pub fn equals(&self, claim: &str, ctx: &PeerContext<'_>) -> Option<bool> {
        let mut rest = claim;
        let mut equal = true;
        for part in &self.parts {
            let piece = self.piece(part, ctx)?;
            match rest.strip_prefix(piece) {
                Some(after) if equal => rest = after,
                _ => equal = false,
            }
        }
        Some(equal && rest.is_empty())
    }

    /// The expression with its placeholders filled, for explain.
    pub fn render(&self, ctx: &PeerContext<'_>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            out.push_str(self.piece(part, ctx)?);
        }
        Some(out)
    }

    fn piece<'p>(&'p self, part: &'p PeerPart, ctx: &PeerContext<'p>) -> Option<&'p str> {
        match part {
            PeerPart::Literal(text) => Some(text),
            PeerPart::Capture(segment) => ctx.capture(*segment),
            PeerPart::Field(field) => ctx.peer?.field(*field),
        }
    }
}

/// What conditions may compare claims with: the request's peer, and the template whose
/// variables they name (the rule's URI SAN template).
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerContext<'a> {
    pub peer: Option<&'a Peer>,
    pub template: Option<&'a PathTemplate>,
}

impl<'a> PeerContext<'a> {
    /// No peer: every `equals_peer` fails.
    pub const NONE: PeerContext<'static> = PeerContext {
        peer: None,
        template: None,
    };

    fn capture(&self, segment: usize) -> Option<&'a str> {
        let uri = self.peer?.uri_san.as_deref()?;
        self.template?.capture(uri, segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPIFFE: &str = "spiffe://{trust_domain}/ns/{namespace}/sa/{sa}";

    fn peer(uri: &str) -> Peer {
        Peer {
            mtls: true,
            uri_san: Some(uri.into()),
            dns_san: Some("orders.shop.svc.cluster.local".into()),
            subject: Some("CN=orders,O=shop".into()),
        }
    }

    fn template() -> PathTemplate {
        PathTemplate::parse_identity(SPIFFE).unwrap()
    }

    #[test]
    fn each_identity_matcher_on_matching_and_failing_values() {
        let id = "spiffe://cluster.local/ns/shop/sa/orders";
        let cases = [
            (IdentityMatcher::Exact(id.into()), true),
            (
                IdentityMatcher::Exact("spiffe://cluster.local".into()),
                false,
            ),
            (
                IdentityMatcher::Prefix("spiffe://cluster.local/".into()),
                true,
            ),
            (IdentityMatcher::Prefix("spiffe://other/".into()), false),
            (IdentityMatcher::Suffix("/sa/orders".into()), true),
            (IdentityMatcher::Suffix("/sa/billing".into()), false),
            (IdentityMatcher::Template(template()), true),
            (
                IdentityMatcher::Template(
                    PathTemplate::parse_identity("spiffe://{td}/ns/billing/sa/{sa}").unwrap(),
                ),
                false,
            ),
            (
                IdentityMatcher::Regex(Pattern::new("spiffe://[^/]+/ns/shop/.*").unwrap()),
                true,
            ),
            (
                IdentityMatcher::Regex(Pattern::new("ns/shop").unwrap()),
                false,
            ),
        ];
        for (matcher, want) in cases {
            assert_eq!(matcher.matches(id), want, "{matcher}");
        }
    }

    #[test]
    fn every_part_of_a_peer_match_must_hold() {
        let m = PeerMatch {
            mtls: Some(true),
            uri_san: Some(IdentityMatcher::Template(template())),
            dns_san: Some(IdentityMatcher::Suffix(".svc.cluster.local".into())),
            subject: Some(IdentityMatcher::Prefix("CN=orders".into())),
        };
        let good = peer("spiffe://cluster.local/ns/shop/sa/orders");
        assert!(m.matches(&good));
        assert_eq!(m.first_mismatch(&Peer::default()), Some(PeerMismatch::Mtls));
        let mut wrong_uri = good.clone();
        wrong_uri.uri_san = Some("spiffe://cluster.local/ns/shop".into());
        assert_eq!(
            m.first_mismatch(&wrong_uri),
            Some(PeerMismatch::Field(PeerField::UriSan))
        );
        let mut no_dns = good.clone();
        no_dns.dns_san = None;
        assert_eq!(
            m.first_mismatch(&no_dns),
            Some(PeerMismatch::Field(PeerField::DnsSan))
        );
        let mut subject = good;
        subject.subject = Some("CN=billing".into());
        assert_eq!(
            m.first_mismatch(&subject),
            Some(PeerMismatch::Field(PeerField::Subject))
        );
    }

    #[test]
    fn mtls_false_matches_only_a_connection_without_a_client_certificate() {
        let m = PeerMatch {
            mtls: Some(false),
            ..PeerMatch::default()
        };
        assert!(m.matches(&Peer::default()));
        assert!(!m.matches(&peer("spiffe://x")));
        assert!(PeerMatch::default().matches(&Peer::default()));
    }

    #[test]
    fn peer_expressions_fill_captures_and_fields() {
        let t = template();
        let p = peer("spiffe://cluster.local/ns/shop/sa/orders");
        let ctx = PeerContext {
            peer: Some(&p),
            template: Some(&t),
        };
        let cases = [
            (
                "system:serviceaccount:{namespace}:{sa}",
                "system:serviceaccount:shop:orders",
                true,
            ),
            (
                "system:serviceaccount:{namespace}:{sa}",
                "system:serviceaccount:shop:order",
                false,
            ),
            (
                "system:serviceaccount:{namespace}:{sa}",
                "system:serviceaccount:shop:orders:x",
                false,
            ),
            ("{sa}", "orders", true),
            ("{sa}", "", false),
            (
                "{peer.uri_san}",
                "spiffe://cluster.local/ns/shop/sa/orders",
                true,
            ),
            ("{peer.dns_san}", "orders.shop.svc.cluster.local", true),
            ("{peer.subject}", "CN=orders", false),
            ("{namespace}/{sa}", "shop/orders", true),
        ];
        for (source, claim, want) in cases {
            let expr = PeerExpr::parse(source, Some(&t)).unwrap();
            assert_eq!(expr.equals(claim, &ctx), Some(want), "{source} vs {claim}");
        }
        let expr = PeerExpr::parse("ns-{namespace}", Some(&t)).unwrap();
        assert_eq!(expr.render(&ctx).as_deref(), Some("ns-shop"));
    }

    #[test]
    fn an_absent_peer_value_is_neither_equal_nor_unequal() {
        let t = template();
        let expr = PeerExpr::parse("{sa}", Some(&t)).unwrap();
        let other = peer("spiffe://cluster.local/other");
        let no_uri = Peer {
            mtls: true,
            ..Peer::default()
        };
        for ctx in [
            PeerContext::NONE,
            PeerContext {
                peer: Some(&no_uri),
                template: Some(&t),
            },
            PeerContext {
                peer: Some(&other),
                template: Some(&t),
            },
        ] {
            assert_eq!(expr.equals("orders", &ctx), None);
            assert_eq!(expr.render(&ctx), None);
        }
    }

    #[test]
    fn malformed_peer_expressions_are_refused() {
        let t = template();
        let cases = [
            ("{sa", PeerExprError::Unbalanced),
            ("sa}", PeerExprError::Unbalanced),
            ("}{sa}", PeerExprError::Unbalanced),
            ("{{sa}}", PeerExprError::Unbalanced),
            ("{pod}", PeerExprError::UnknownCapture("pod".into())),
            (
                "{peer.spiffe}",
                PeerExprError::UnknownField("spiffe".into()),
            ),
            ("orders", PeerExprError::NoPlaceholder),
            ("", PeerExprError::NoPlaceholder),
        ];
        for (source, want) in cases {
            assert_eq!(PeerExpr::parse(source, Some(&t)), Err(want), "{source}");
        }
        assert_eq!(
            PeerExpr::parse("{sa}", None),
            Err(PeerExprError::UnknownCapture("sa".into()))
        );
        assert!(PeerExpr::parse("{peer.uri_san}", None).is_ok());
    }
}
