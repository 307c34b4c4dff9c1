//! Route policy: which rule applies to a request, what it requires, and what an
//! accepted token adds to the request.
//!
//! Rules are tried in order and the first match wins; when none matches, the
//! configuration's explicit `default` action applies (`Config::select_rule`).
//! [`first_match`] is the request path; [`explain_matches`] is the same matching,
//! reporting why each rule did or did not match (for the CLI).

mod condition;
mod matcher;
mod output;
mod peer;
pub mod shadow;

pub use condition::{
    compare_numbers, Condition, ConditionFailure, ConditionTrace, LeafNote, Operator, Scalar,
    StringClaim, Truth, MAX_CONDITION_DEPTH, SPACE_DELIMITED_CLAIMS,
};
pub use matcher::{
    host_without_port, HeaderMatcher, HeaderTest, HostPattern, Mismatch, PathMatcher, PathTemplate,
    RequestMatch, TemplateError, MAX_TEMPLATE_SEGMENTS,
};
pub use output::{
    output_plan, render_claim, HeaderOutput, HeaderSkipReason, OutputPlan, SkippedHeader,
    MAX_HEADER_VALUE_LEN,
};
pub use peer::{IdentityMatcher, PeerContext, PeerExpr, PeerExprError, PeerMatch, PeerMismatch};

use std::sync::Arc;

use crate::claims::ClaimsObject;
use crate::peer::Peer;
use crate::provider_id::ProviderId;
use crate::request::{Request, Target};

pub use crate::pattern::{Pattern, REGEX_NEST_LIMIT, REGEX_SIZE_LIMIT};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Shared with every verdict that names the rule, so naming it costs no allocation.
    pub name: Arc<str>,
    pub matcher: RequestMatch,
    pub action: Action,
    /// Log and count refusals but let requests through (rule override of the global
    /// `dry_run`).
    pub dry_run: bool,
}

/// What to do with a request that a rule (or the default) selects.
#[derive(Debug, Clone)]
pub enum Action {
    /// No token needed; a token that is present is still verified.
    Allow,
    Deny,
    Require(Requirement),
}

/// The token(s) a request must carry and the conditions on their claims.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub providers: ProviderSet,
    /// Evaluated on the claims of the accepted token (for `all`, of the first listed provider).
    pub claims: Option<Condition>,
    /// The oldest `iat` accepted, in seconds before now (with the provider's skew), for
    /// every accepted token: a sensitive route can demand a recent sign-in.
    pub max_token_age_s: Option<u64>,
    /// The peer the request must come from, checked before any token
    /// (`peer_certificate_missing`, `peer_not_allowed`).
    pub peer: Option<Box<PeerMatch>>,
    /// The rule's peer URI SAN template (from `match.peer` or `require.peer`), whose
    /// variables `equals_peer` conditions name.
    pub peer_template: Option<Box<PathTemplate>>,
    /// `require.introspect`: the accepted tokens must be active at their providers'
    /// introspection endpoints; what an outage does.
    pub introspect: Option<OnOutage>,
}

/// What a rule does when the authorization server's answer cannot be had
/// (`require.introspect.on_outage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOutage {
    /// 503 `introspection_unavailable`: fail closed.
    Deny,
    /// A verified JWT passes without the server's word; logged and counted. Opaque tokens
    /// have nothing else to vouch for them and are refused all the same.
    Allow,
}

/// Which providers must vouch for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSet {
    /// One valid token from any of these.
    Any(Vec<ProviderId>),
    /// A valid token from each of these.
    All(Vec<ProviderId>),
}

impl ProviderSet {
    pub fn providers(&self) -> &[ProviderId] {
        match self {
            ProviderSet::Any(ids) | ProviderSet::All(ids) => ids,
        }
    }
}

impl Requirement {
    /// The condition tree with each node's result, for explain; `None` without conditions.
    pub fn trace_claims<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
        peer: &Peer,
    ) -> Option<ConditionTrace> {
        self.claims
            .as_ref()
            .map(|c| c.trace_in(claims, &self.peer_context(peer)))
    }

    /// Checks the rule's claim conditions on a verified token's claims, for a request
    /// without a peer.
    pub fn check_claims<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
    ) -> Result<(), ConditionFailure> {
        self.check_claims_in(claims, &Peer::default())
    }

    /// Checks the rule's claim conditions on a verified token's claims, for a request
    /// from `peer`.
    pub fn check_claims_in<C: ClaimsObject + ?Sized>(
        &self,
        claims: &C,
        peer: &Peer,
    ) -> Result<(), ConditionFailure> {
        match &self.claims {
            Some(condition) => condition.check_in(claims, &self.peer_context(peer)),
            None => Ok(()),
        }
    }

    fn peer_context<'a>(&'a self, peer: &'a Peer) -> PeerContext<'a> {
        PeerContext {
            peer: Some(peer),
            template: self.peer_template.as_deref(),
        }
    }
}

/// The rule that applies to a request.
#[derive(Debug, Clone, Copy)]
pub struct SelectedRule<'c> {
    /// Index in `rules`; `None` for the default.
    pub index: Option<usize>,
    /// The rule name; `"default"` for the default.
    pub name: &'c Arc<str>,
    pub action: &'c Action,
    /// Whether refusals under this rule are only logged and counted.
    pub dry_run: bool,
}

/// The name reported when the default action applies.
pub const DEFAULT_RULE_NAME: &str = "default";

/// The name reported for a request refused before any rule is selected (a path with no
/// canonical form).
pub const REQUEST_RULE_NAME: &str = "request";

/// The first rule whose match holds; `None` sends the request to the default action.
///
/// `target` is the request's canonical method and path ([`Request::target`]).
pub fn first_match<'c>(
    rules: &'c [Rule],
    req: &Request,
    target: &Target,
) -> Option<SelectedRule<'c>> {
    rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule.matcher.matches(req, target))
        .map(|(index, rule)| rule.selected(index))
}

impl Rule {
    fn selected(&self, index: usize) -> SelectedRule<'_> {
        SelectedRule {
            index: Some(index),
            name: &self.name,
            action: &self.action,
            dry_run: self.dry_run,
        }
    }
}

/// One rule's verdict in an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    pub index: usize,
    pub name: String,
    /// Empty when the rule matched; otherwise one sentence per failing part.
    pub mismatches: Vec<String>,
}

/// Why a request got the rule it got.
#[derive(Debug, Clone)]
pub struct RuleSelection<'c> {
    /// Rules up to and including the selected one (later rules are never tried).
    pub rules: Vec<RuleTrace>,
    pub selected: SelectedRule<'c>,
}

/// [`first_match`], with the reasons each earlier rule did not match.
pub fn explain_matches<'c>(
    rules: &'c [Rule],
    req: &Request,
    target: &Target,
) -> (Vec<RuleTrace>, Option<SelectedRule<'c>>) {
    let mut traces = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let mismatches: Vec<String> = rule
            .matcher
            .mismatches(req, target)
            .iter()
            .map(|m| m.describe(&rule.matcher, req, target))
            .collect();
        let matched = mismatches.is_empty();
        traces.push(RuleTrace {
            index,
            name: rule.name.to_string(),
            mismatches,
        });
        if matched {
            return (traces, Some(rule.selected(index)));
        }
    }
    (traces, None)
}
