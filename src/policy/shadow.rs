//! Which rules can take the same request, and which of two actions refuses more: what a
//! configuration check needs to tell that a rule the client can steer into (or around)
//! changes the decision.
//!
//! First match wins, so an earlier rule takes every request it shares with a later one: it
//! *shadows* the later rule (and the default) for those requests. That is how policies are
//! meant to be written when the rules differ in what the client cannot choose — path,
//! method, host, route. A request header is the client's to write: a rule that matches on one
//! is a choice the client makes. The analysis here is conservative in the direction of
//! warning: "may overlap" is true unless the two matches provably exclude each other, and
//! "covers" and "at least as strict" are true only when provable.

use super::{
    Action, Condition, HeaderTest, HostPattern, OnOutage, PathMatcher, ProviderSet, RequestMatch,
};

/// Whether some request could match both `a` and `b`. `a`'s header conditions are left out
/// when `with_headers_of_a` is false (the request that omits them).
pub fn may_overlap(a: &RequestMatch, b: &RequestMatch, with_headers_of_a: bool) -> bool {
    let methods = a.methods.is_empty()
        || b.methods.is_empty()
        || a.methods.iter().any(|m| b.methods.contains(m));
    let hosts = a.hosts.is_empty()
        || b.hosts.is_empty()
        || a.hosts
            .iter()
            .any(|x| b.hosts.iter().any(|y| hosts_may_overlap(x, y)));
    let routes = match (&a.route_name, &b.route_name) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let paths = match (&a.path, &b.path) {
        (Some(x), Some(y)) => paths_may_overlap(x, y),
        _ => true,
    };
    let headers = !with_headers_of_a || !headers_exclude(a, b);
    methods && hosts && routes && paths && headers
}

/// Whether every request matching `inner` (without its header conditions) matches `outer`.
/// `outer` must have no header conditions of its own, since the request may omit them.
pub fn covers(outer: &RequestMatch, inner: &RequestMatch) -> bool {
    let methods = outer.methods.is_empty()
        || (!inner.methods.is_empty() && inner.methods.iter().all(|m| outer.methods.contains(m)));
    let hosts = outer.hosts.is_empty()
        || (!inner.hosts.is_empty()
            && inner
                .hosts
                .iter()
                .all(|i| outer.hosts.iter().any(|o| host_covers(o, i))));
    let routes = match (&outer.route_name, &inner.route_name) {
        (None, _) => true,
        (Some(o), Some(i)) => o == i,
        (Some(_), None) => false,
    };
    let paths = match (&outer.path, &inner.path) {
        (None, _) => true,
        (Some(o), Some(i)) => path_covers(o, i),
        (Some(_), None) => false,
    };
    // A peer condition on `outer` may exclude the request: it covers nothing provably.
    outer.headers.is_empty() && outer.peer.is_none() && methods && hosts && routes && paths
}

/// A `present: false` on one side and any positive test of the same header on the other
/// cannot both hold. (Repeated headers match when any value does, so two different `exact`
/// values can both hold on one request.)
fn headers_exclude(a: &RequestMatch, b: &RequestMatch) -> bool {
    a.headers.iter().any(|x| {
        b.headers.iter().any(|y| {
            x.name == y.name
                && matches!(
                    (&x.test, &y.test),
                    (HeaderTest::Present(false), t) | (t, HeaderTest::Present(false))
                        if !matches!(t, HeaderTest::Present(false))
                )
        })
    })
}

fn hosts_may_overlap(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Any, _) | (_, HostPattern::Any) => true,
        (HostPattern::Exact(x), other) | (other, HostPattern::Exact(x)) => other.matches(x),
        (HostPattern::Suffix(x), HostPattern::Suffix(y)) => {
            x.ends_with(y.as_str()) || y.ends_with(x.as_str())
        }
    }
}

fn host_covers(outer: &HostPattern, inner: &HostPattern) -> bool {
    match (outer, inner) {
        (HostPattern::Any, _) => true,
        (_, HostPattern::Any) => false,
        (outer, HostPattern::Exact(host)) => outer.matches(host),
        (HostPattern::Suffix(o), HostPattern::Suffix(i)) => i.ends_with(o.as_str()),
        (HostPattern::Exact(_), HostPattern::Suffix(_)) => false,
    }
}

fn paths_may_overlap(a: &PathMatcher, b: &PathMatcher) -> bool {
    match (a, b) {
        (PathMatcher::Exact(x), other) | (other, PathMatcher::Exact(x)) => other.matches(x),
        (PathMatcher::Prefix(x), PathMatcher::Prefix(y)) => {
            x.starts_with(y.as_str()) || y.starts_with(x.as_str())
        }
        (PathMatcher::Prefix(p), PathMatcher::Template(t))
        | (PathMatcher::Template(t), PathMatcher::Prefix(p)) => {
            let literal = t.literal_prefix();
            literal.starts_with(p.as_str()) || p.starts_with(literal.as_str())
        }
        (PathMatcher::Template(x), PathMatcher::Template(y)) => {
            let (x, y) = (x.literal_prefix(), y.literal_prefix());
            x.starts_with(y.as_str()) || y.starts_with(x.as_str())
        }
        // A regex can match anything the other side does, as far as this check can tell.
        (PathMatcher::Regex(_), _) | (_, PathMatcher::Regex(_)) => true,
    }
}

fn path_covers(outer: &PathMatcher, inner: &PathMatcher) -> bool {
    match (outer, inner) {
        (outer, PathMatcher::Exact(path)) => outer.matches(path),
        (PathMatcher::Prefix(o), PathMatcher::Prefix(i)) => i.starts_with(o.as_str()),
        (PathMatcher::Prefix(o), PathMatcher::Template(t)) => {
            t.literal_prefix().starts_with(o.as_str())
        }
        (PathMatcher::Template(o), PathMatcher::Template(i)) => o.source() == i.source(),
        (PathMatcher::Regex(o), PathMatcher::Regex(i)) => o == i,
        _ => false,
    }
}

/// A rule's (or the default's) action as it takes effect: a dry-run action refuses nothing.
#[derive(Debug, Clone, Copy)]
pub struct Effect<'a> {
    pub action: &'a Action,
    pub dry_run: bool,
}

impl Effect<'_> {
    /// Whether it refuses nothing a client could not avoid (an `allow` still refuses a
    /// broken token, which the client need not send).
    pub fn lets_everything_through(&self) -> bool {
        self.dry_run || matches!(self.action, Action::Allow)
    }

    /// Whether every request `other` refuses, this refuses too (provably; `false` when the
    /// two cannot be compared).
    pub fn at_least_as_strict_as(&self, other: &Effect<'_>) -> bool {
        if other.lets_everything_through() {
            return true;
        }
        if self.lets_everything_through() {
            return false;
        }
        match (self.action, other.action) {
            (Action::Deny, _) => true,
            (_, Action::Deny) => false,
            (Action::Require(a), Action::Require(b)) => {
                providers_at_least(&a.providers, &b.providers)
                    && conditions_at_least(a.claims.as_ref(), b.claims.as_ref())
                    && age_at_least(a.max_token_age_s, b.max_token_age_s)
                    && introspect_at_least(a.introspect, b.introspect)
                    && b.peer.is_none()
            }
            // Allow was handled above.
            _ => false,
        }
    }
}

/// An introspection demand that refuses whatever `b`'s does: an inactive token is refused by
/// both; an outage refuses under `deny` only.
fn introspect_at_least(a: Option<OnOutage>, b: Option<OnOutage>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(x), Some(y)) => x == OnOutage::Deny || y == OnOutage::Allow,
    }
}

/// An age bound that accepts no older token than `other`'s: none refuses nothing.
fn age_at_least(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(x), Some(y)) => x <= y,
    }
}

/// A provider set that accepts no more tokens than `other`. One provider is the same set
/// whether written `any` or `all`.
fn providers_at_least(a: &ProviderSet, b: &ProviderSet) -> bool {
    let single = |set: &ProviderSet| match set.providers() {
        [one] => Some(*one),
        _ => None,
    };
    match (a, b) {
        (ProviderSet::Any(x), ProviderSet::Any(y)) => x.iter().all(|p| y.contains(p)),
        (ProviderSet::All(x), ProviderSet::All(y)) => {
            // Conditions read the first listed provider's claims: it must be the same.
            x.first() == y.first() && y.iter().all(|p| x.contains(p))
        }
        (ProviderSet::All(x), ProviderSet::Any(y)) => match single(b) {
            Some(only) => x.first() == Some(&only),
            None => single(a).is_some_and(|one| y.contains(&one)),
        },
        (ProviderSet::Any(_), ProviderSet::All(_)) => match (single(a), single(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Conditions that hold for no more claims than `other`: the same, or `other`'s among an
/// `all` of ours (each of its conjuncts, when it is an `all` itself).
fn conditions_at_least(a: Option<&Condition>, b: Option<&Condition>) -> bool {
    let Some(b) = b else {
        return true;
    };
    let Some(a) = a else {
        return false;
    };
    if a == b {
        return true;
    }
    let ours: &[Condition] = match a {
        Condition::All(items) => items,
        one => std::slice::from_ref(one),
    };
    let theirs: &[Condition] = match b {
        Condition::All(items) => items,
        one => std::slice::from_ref(one),
    };
    theirs.iter().all(|t| ours.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::ClaimPath;
    use crate::policy::{HeaderMatcher, Operator, PathTemplate, Requirement, Scalar};
    use crate::provider_id::ProviderId;

    fn path(p: PathMatcher) -> RequestMatch {
        RequestMatch {
            path: Some(p),
            ..RequestMatch::default()
        }
    }
    fn template(t: &str) -> PathMatcher {
        PathMatcher::Template(PathTemplate::parse(t).unwrap())
    }
    fn header(name: &str, test: HeaderTest) -> HeaderMatcher {
        HeaderMatcher {
            name: name.into(),
            test,
        }
    }
    fn leaf(claim: &str, value: &str) -> Condition {
        Condition::Claim {
            path: ClaimPath::parse(claim).unwrap(),
            op: Operator::Equals(Scalar::String(value.into())),
        }
    }
    fn require(providers: ProviderSet, claims: Option<Condition>) -> Action {
        Action::Require(Requirement {
            providers,
            claims,
            max_token_age_s: None,
            peer: None,
            peer_template: None,
            introspect: None,
        })
    }
    fn effect(action: &Action) -> Effect<'_> {
        Effect {
            action,
            dry_run: false,
        }
    }

    #[test]
    fn paths_that_share_no_request_do_not_overlap() {
        let cases = [
            (
                PathMatcher::Exact("/a".into()),
                PathMatcher::Exact("/b".into()),
                false,
            ),
            (
                PathMatcher::Exact("/a/x".into()),
                PathMatcher::Prefix("/a/".into()),
                true,
            ),
            (
                PathMatcher::Prefix("/a".into()),
                PathMatcher::Prefix("/b".into()),
                false,
            ),
            (PathMatcher::Prefix("/a/".into()), template("/a/{id}"), true),
            (PathMatcher::Prefix("/b/".into()), template("/a/**"), false),
            (template("/a/**"), template("/a/{id}/x"), true),
            (template("/a/**"), template("/b/**"), false),
            (PathMatcher::Exact("/a/1".into()), template("/a/{id}"), true),
            (
                PathMatcher::Exact("/b/1".into()),
                template("/a/{id}"),
                false,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                may_overlap(&path(a.clone()), &path(b.clone()), true),
                want,
                "{a} / {b}"
            );
            assert_eq!(
                may_overlap(&path(b.clone()), &path(a.clone()), true),
                want,
                "{b} / {a}"
            );
        }
    }

    #[test]
    fn disjoint_methods_hosts_or_routes_do_not_overlap() {
        let get = RequestMatch {
            methods: vec!["GET".into()],
            ..RequestMatch::default()
        };
        let post = RequestMatch {
            methods: vec!["POST".into()],
            ..RequestMatch::default()
        };
        assert!(!may_overlap(&get, &post, true));
        let acme = RequestMatch {
            hosts: vec![HostPattern::parse("acme.example").unwrap()],
            ..RequestMatch::default()
        };
        let all = RequestMatch {
            hosts: vec![HostPattern::parse("*.example").unwrap()],
            ..RequestMatch::default()
        };
        let other = RequestMatch {
            hosts: vec![HostPattern::parse("globex.example").unwrap()],
            ..RequestMatch::default()
        };
        assert!(may_overlap(&acme, &all, true));
        assert!(!may_overlap(&acme, &other, true));
    }

    #[test]
    fn a_header_absent_on_one_side_and_tested_on_the_other_excludes() {
        let with = RequestMatch {
            headers: vec![header("x-canary", HeaderTest::Exact("1".into()))],
            ..RequestMatch::default()
        };
        let without = RequestMatch {
            headers: vec![header("x-canary", HeaderTest::Present(false))],
            ..RequestMatch::default()
        };
        assert!(!may_overlap(&with, &without, true));
        assert!(may_overlap(&with, &without, false));
    }

    #[test]
    fn a_wider_match_without_headers_covers() {
        let inner = RequestMatch {
            path: Some(PathMatcher::Exact("/reports/1".into())),
            methods: vec!["GET".into()],
            headers: vec![header("x-canary", HeaderTest::Present(true))],
            ..RequestMatch::default()
        };
        assert!(covers(&path(template("/reports/**")), &inner));
        assert!(covers(&RequestMatch::default(), &inner));
        assert!(!covers(&path(template("/other/**")), &inner));
        let post_only = RequestMatch {
            methods: vec!["POST".into()],
            ..RequestMatch::default()
        };
        assert!(!covers(&post_only, &inner));
    }

    #[test]
    fn a_rule_that_introspects_is_stricter_than_one_that_does_not() {
        let ids = || ProviderSet::Any(vec![ProviderId(0)]);
        let with = |introspect| {
            Action::Require(Requirement {
                providers: ids(),
                claims: None,
                max_token_age_s: None,
                peer: None,
                peer_template: None,
                introspect,
            })
        };
        let plain = require(ids(), None);
        let fails_open = with(Some(OnOutage::Allow));
        let fails_closed = with(Some(OnOutage::Deny));
        // (stricter?, than?, expected)
        let cases = [
            (&fails_open, &plain, true),
            (&plain, &fails_open, false),
            (&fails_closed, &fails_open, true),
            (&fails_open, &fails_closed, false),
            (&fails_closed, &fails_closed, true),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                effect(a).at_least_as_strict_as(&effect(b)),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn strictness_orders_deny_require_allow_and_dry_run() {
        let ids = |n: &[usize]| n.iter().map(|i| ProviderId(*i)).collect::<Vec<_>>();
        let deny = Action::Deny;
        let allow = Action::Allow;
        let one = require(ProviderSet::Any(ids(&[0])), None);
        let two = require(ProviderSet::Any(ids(&[0, 1])), None);
        let one_admin = require(ProviderSet::Any(ids(&[0])), Some(leaf("role", "admin")));
        let one_admin_and_more = require(
            ProviderSet::All(ids(&[0])),
            Some(Condition::All(vec![
                leaf("role", "admin"),
                leaf("tier", "gold"),
            ])),
        );
        let stricter = [
            (&deny, &one),
            (&one, &two),
            (&one, &allow),
            (&one_admin, &one),
            (&one_admin_and_more, &one_admin),
        ];
        for (a, b) in stricter {
            assert!(
                effect(a).at_least_as_strict_as(&effect(b)),
                "{a:?} >= {b:?}"
            );
            assert!(
                !effect(b).at_least_as_strict_as(&effect(a)),
                "{b:?} < {a:?}"
            );
        }
        let dry = Effect {
            action: &deny,
            dry_run: true,
        };
        assert!(!dry.at_least_as_strict_as(&effect(&one)));
        assert!(dry.at_least_as_strict_as(&effect(&allow)));
        let other = require(ProviderSet::Any(ids(&[1])), None);
        assert!(!effect(&one).at_least_as_strict_as(&effect(&other)));
        assert!(!effect(&other).at_least_as_strict_as(&effect(&one)));
    }
}
