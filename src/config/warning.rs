//! Configurations that load but deserve a second look, each with its JSON path: the one list
//! `claimcheck validate` prints and the filter logs at `on_configure`.
//!
//! The checks look for decisions the client can steer. A request header is the client's to
//! write, so a rule that matches on one lets the client choose between that rule and whatever
//! the request gets without it; and a dry-run rule lets through every request it takes, so one
//! placed before an enforcing rule switches that rule off for the requests they share. Rules
//! should match on what the client cannot choose (path, method, host, route) and test the
//! verified token's claims for the rest.

use std::fmt;

use crate::jwks::SkippedKey;
use crate::policy::shadow::{covers, may_overlap, Effect};
use crate::policy::{Action, Rule, DEFAULT_RULE_NAME};

use super::{Config, JwksSource};

/// One finding, at a JSON path such as `rules[1].match.headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub path: String,
    pub kind: ConfigWarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarningKind {
    /// A rule matching on a request header is not provably at least as strict as a later rule
    /// (or the default) it takes requests from: a client adds the header to get it.
    HeaderRuleLessStrict { header: String, shadowed: String },
    /// A rule matching on a request header is stricter than what the same requests get
    /// without the header: a client leaves the header out to avoid it.
    HeaderRuleAvoidable { header: String, fallback: String },
    /// A dry-run rule takes requests from an enforcing rule (or default) that refuses some.
    DryRunShadowsEnforcing { shadowed: String },
    /// An inline key the filter skips (RFC 7517 §5 lets a set carry keys a verifier ignores):
    /// legal, but usually a mistake in a hand-written configuration.
    InlineKeySkipped { reason: String },
    /// A provider without keys (opaque tokens, introspection only) is tried before a JWT
    /// provider that reads the same token source: every JWT meant for the latter costs an
    /// introspection call (and a wait) first, and a JWT the server calls active is accepted
    /// on the server's word alone.
    OpaqueProviderFirst { opaque: String, jwt: String },
}

impl fmt::Display for ConfigWarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigWarningKind as W;
        match self {
            W::HeaderRuleLessStrict { header, shadowed } => write!(
                f,
                "matches on the client's header {header:?} and is less strict than {} it takes requests from: a client adds the header to get this rule; match on what the client cannot choose (path, method, host, route) instead",
                rule_label(shadowed)
            ),
            W::HeaderRuleAvoidable { header, fallback } => write!(
                f,
                "matches on the client's header {header:?} and is stricter than {} the same requests reach without it: a client leaves the header out to avoid this rule; match on what the client cannot choose (path, method, host, route) instead",
                rule_label(fallback)
            ),
            W::DryRunShadowsEnforcing { shadowed } => write!(
                f,
                "dry-run rule takes requests from {}, which enforces: they are let through while the dry run lasts",
                rule_label(shadowed)
            ),
            W::InlineKeySkipped { reason } => write!(f, "key skipped: {reason}"),
            W::OpaqueProviderFirst { opaque, jwt } => write!(
                f,
                "provider {opaque:?} takes opaque tokens and is tried before {jwt:?}, which reads the same token source: every JWT for {jwt:?} costs an introspection call first; list {jwt:?} first or give {opaque:?} a source of its own"
            ),
        }
    }
}

fn rule_label(name: &str) -> String {
    if name == DEFAULT_RULE_NAME {
        "the default action".to_owned()
    } else {
        format!("rule {name:?}")
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

/// A rule or the default, as the checks compare them.
struct Candidate<'c> {
    name: &'c str,
    effect: Effect<'c>,
}

/// Every warning for a compiled configuration, in rule order, then providers.
pub(super) fn find(config: &Config) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    for (index, rule) in config.rules.iter().enumerate() {
        header_rule(config, index, rule, &mut out);
        dry_run_rule(config, index, rule, &mut out);
        opaque_first(config, &format!("rules[{index}]"), &rule.action, &mut out);
    }
    opaque_first(config, "default", &config.default, &mut out);
    for provider in &config.providers {
        if let JwksSource::Inline(parsed) = &provider.jwks {
            for skipped in &parsed.skipped {
                out.push(inline_key(&provider.name, skipped));
            }
        }
    }
    out
}

/// An `any` list that tries an opaque-token provider before a JWT provider sharing a source.
fn opaque_first(config: &Config, at: &str, action: &Action, out: &mut Vec<ConfigWarning>) {
    let Action::Require(requirement) = action else {
        return;
    };
    let crate::policy::ProviderSet::Any(ids) = &requirement.providers else {
        return;
    };
    for (i, opaque) in ids.iter().filter_map(|id| config.provider(*id)).enumerate() {
        if !opaque.is_opaque() {
            continue;
        }
        let later_jwt = ids
            .iter()
            .skip(i + 1)
            .filter_map(|id| config.provider(*id))
            .find(|p| !p.is_opaque() && p.sources.iter().any(|s| opaque.sources.contains(s)));
        if let Some(jwt) = later_jwt {
            out.push(ConfigWarning {
                path: format!("{at}.require.providers.any[{i}]"),
                kind: ConfigWarningKind::OpaqueProviderFirst {
                    opaque: opaque.name.clone(),
                    jwt: jwt.name.clone(),
                },
            });
        }
    }
}

fn inline_key(provider: &str, skipped: &SkippedKey) -> ConfigWarning {
    ConfigWarning {
        path: format!("providers.{provider}.jwks.inline.keys[{}]", skipped.index),
        kind: ConfigWarningKind::InlineKeySkipped {
            reason: skipped.reason.to_string(),
        },
    }
}

fn effect(rule: &Rule) -> Effect<'_> {
    Effect {
        action: &rule.action,
        dry_run: rule.dry_run,
    }
}

/// The rules after `index` that may take requests `rule` matches, and the default unless a
/// later rule provably takes all of them first. `with_headers`: the requests carry `rule`'s
/// headers (what it shadows) or leave them out (where they fall without it).
fn later<'c>(
    config: &'c Config,
    index: usize,
    rule: &Rule,
    with_headers: bool,
) -> Vec<Candidate<'c>> {
    let mut out = Vec::new();
    let mut covered = false;
    for other in config.rules.iter().skip(index + 1) {
        if !may_overlap(&rule.matcher, &other.matcher, with_headers) {
            continue;
        }
        out.push(Candidate {
            name: &other.name,
            effect: effect(other),
        });
        if covers(&other.matcher, &rule.matcher) {
            covered = true;
            break;
        }
    }
    if !covered {
        out.push(Candidate {
            name: DEFAULT_RULE_NAME,
            effect: Effect {
                action: &config.default,
                dry_run: config.dry_run,
            },
        });
    }
    out
}

fn header_rule(config: &Config, index: usize, rule: &Rule, out: &mut Vec<ConfigWarning>) {
    let Some(first) = rule.matcher.headers.first() else {
        return;
    };
    let ours = effect(rule);
    let path = format!("rules[{index}].match.headers");
    let header = first.name.clone();
    if let Some(shadowed) = later(config, index, rule, true)
        .into_iter()
        .find(|c| !ours.at_least_as_strict_as(&c.effect))
    {
        out.push(ConfigWarning {
            path,
            kind: ConfigWarningKind::HeaderRuleLessStrict {
                header,
                shadowed: shadowed.name.to_owned(),
            },
        });
        return;
    }
    if let Some(fallback) = later(config, index, rule, false)
        .into_iter()
        .find(|c| !c.effect.at_least_as_strict_as(&ours))
    {
        out.push(ConfigWarning {
            path,
            kind: ConfigWarningKind::HeaderRuleAvoidable {
                header,
                fallback: fallback.name.to_owned(),
            },
        });
    }
}

fn dry_run_rule(config: &Config, index: usize, rule: &Rule, out: &mut Vec<ConfigWarning>) {
    if !rule.dry_run || matches!(rule.action, Action::Allow) {
        return;
    }
    if let Some(shadowed) = later(config, index, rule, true)
        .into_iter()
        .find(|c| !c.effect.lets_everything_through())
    {
        out.push(ConfigWarning {
            path: format!("rules[{index}].dry_run"),
            kind: ConfigWarningKind::DryRunShadowsEnforcing {
                shadowed: shadowed.name.to_owned(),
            },
        });
    }
}
