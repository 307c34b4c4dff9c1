//! The fetch plan of a remote provider: where its keys come from and how often, compiled
//! once with the configuration (the shell and the key machine only read it). A provider's
//! revocation list has a plan of its own, with its own shared-data keys.

use crate::jwa::Algorithm;
use crate::jwks::{self, KeyPolicy};

use super::{HttpTarget, JwksSource, Refresh, RevocationSource};

/// Everything a VM needs to keep one remote provider's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPlan {
    /// Provider name, for logs and metrics.
    pub provider: String,
    /// Shared-data key of the provider's `keys::KeyRecord`.
    pub record_key: String,
    /// Shared-data key of the provider's `keys::FetchLease`.
    pub lease_key: String,
    /// The Envoy cluster every call of the fetch goes through.
    pub cluster: String,
    pub first_step: Step,
    /// Budget of each call.
    pub timeout_ms: u64,
    pub key_policy: KeyPolicy,
    pub policy: FetchPolicy,
}

/// One HTTP call of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// GET an OIDC discovery document, then the `jwks_uri` it names.
    Discovery {
        authority: String,
        path: String,
        issuer: String,
    },
    /// GET a JWKS document.
    Jwks { authority: String, path: String },
    /// GET a revocation list, of at most `max_bytes`.
    RevocationList {
        authority: String,
        path: String,
        max_bytes: usize,
    },
}

impl Step {
    /// The largest answer accepted, before reading it: a larger one is a `too_large` failure.
    pub fn max_body_bytes(&self) -> usize {
        match self {
            Step::Discovery { .. } => jwks::MAX_DISCOVERY_BYTES,
            Step::Jwks { .. } => jwks::MAX_JWKS_BYTES,
            Step::RevocationList { max_bytes, .. } => *max_bytes,
        }
    }

    /// `:authority` and `:path` of the call.
    pub fn target(&self) -> (&str, &str) {
        match self {
            Step::Discovery {
                authority, path, ..
            }
            | Step::Jwks { authority, path }
            | Step::RevocationList {
                authority, path, ..
            } => (authority, path),
        }
    }
}

/// How a provider's keys are refreshed, in milliseconds. Compiled from the provider's
/// `refresh` and `jwks` configuration ([`FetchPlan`]); the key machine
/// (`keys`) does the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Time between successful refreshes (before jitter) when the IdP states no lifetime.
    pub interval_ms: u64,
    /// A lifetime the IdP states (`Cache-Control: max-age`, `Expires`) never refreshes more
    /// often than this.
    pub min_interval_ms: u64,
    /// Nor less often than this: unbounded (but for `max_stale_ms / 2`) for keys; the
    /// configured interval for a revocation list, whose interval bounds how late a revocation
    /// takes effect.
    pub max_interval_ms: u64,
    /// Up to this fraction (per mille) of the interval is taken off at random, so that a
    /// fleet of proxies started together does not refresh in lockstep.
    pub jitter_permille: u64,
    /// Keys older than this are no longer used, even if every refresh since has failed.
    pub max_stale_ms: u64,
    /// First retry delay after a failed fetch; doubles per consecutive failure.
    pub retry_initial_ms: u64,
    /// Upper bound of the retry delay.
    pub retry_max_ms: u64,
    /// An unknown `kid` triggers a refetch at most this often (per process), so a flood of
    /// tokens with made-up `kid`s cannot turn into a flood of fetches.
    pub unknown_kid_min_interval_ms: u64,
    /// Budget for one fetch (each HTTP call of it); also bounds how long a lease is held.
    pub fetch_timeout_ms: u64,
}

/// Up to 10% of the refresh interval is taken off at random.
const REFRESH_JITTER_PERMILLE: u64 = 100;

/// Version of the shared-data layout, in every key: VMs of another layout (a module upgrade
/// in a running process) never read or overwrite these entries.
const SHARED_LAYOUT: &str = "claimcheck/v2";

impl FetchPlan {
    /// The plan of a provider whose keys are remote; `None` for inline keys.
    pub fn compile(
        name: &str,
        issuer: &str,
        algorithms: &[Algorithm],
        jwks: &JwksSource,
        refresh: &Refresh,
    ) -> Option<FetchPlan> {
        let (target, first_step) = match jwks {
            JwksSource::Inline(_) | JwksSource::None => return None,
            JwksSource::Remote(target) => (
                target,
                Step::Jwks {
                    authority: target.authority.clone(),
                    path: target.path.clone(),
                },
            ),
            JwksSource::OidcDiscovery(target) => (
                target,
                Step::Discovery {
                    authority: target.authority.clone(),
                    path: target.path.clone(),
                    issuer: issuer.to_owned(),
                },
            ),
        };
        let prefix = shared_key(name, issuer, algorithms, target);
        Some(FetchPlan {
            provider: name.to_owned(),
            record_key: format!("{prefix}/record"),
            lease_key: format!("{prefix}/lease"),
            cluster: target.cluster.clone(),
            first_step,
            timeout_ms: target.timeout_ms,
            key_policy: KeyPolicy {
                algorithms: algorithms.to_vec(),
            },
            policy: FetchPolicy {
                interval_ms: refresh.interval_s.saturating_mul(1000),
                min_interval_ms: refresh
                    .min_interval_s
                    .min(refresh.interval_s)
                    .saturating_mul(1000),
                max_interval_ms: u64::MAX,
                jitter_permille: REFRESH_JITTER_PERMILLE,
                max_stale_ms: refresh.max_stale_s.saturating_mul(1000),
                retry_initial_ms: refresh.retry_initial_ms,
                retry_max_ms: refresh.retry_max_ms,
                unknown_kid_min_interval_ms: refresh
                    .unknown_kid_min_interval_s
                    .saturating_mul(1000),
                fetch_timeout_ms: target.timeout_ms,
            },
        })
    }
}

impl FetchPlan {
    /// The plan of a provider's revocation list: the list's own source and schedule, the
    /// provider's retry backoff, and shared-data keys of its own (`.../revocation-<digest>`),
    /// so the list's record never meets the key record.
    pub fn revocation_list(name: &str, list: &RevocationSource, refresh: &Refresh) -> FetchPlan {
        let target = &list.target;
        let prefix = list_shared_key(name, target);
        let interval_ms = list.interval_s.saturating_mul(1000);
        FetchPlan {
            // Log lines read "provider corp revocation list: ..."; metrics name the provider.
            provider: format!("{name} revocation list"),
            record_key: format!("{prefix}/record"),
            lease_key: format!("{prefix}/lease"),
            cluster: target.cluster.clone(),
            first_step: Step::RevocationList {
                authority: target.authority.clone(),
                path: target.path.clone(),
                max_bytes: list.max_bytes,
            },
            timeout_ms: target.timeout_ms,
            key_policy: KeyPolicy {
                algorithms: Vec::new(),
            },
            policy: FetchPolicy {
                interval_ms,
                min_interval_ms: list.min_interval_s.saturating_mul(1000).min(interval_ms),
                max_interval_ms: interval_ms,
                jitter_permille: REFRESH_JITTER_PERMILLE,
                max_stale_ms: list.max_stale_s.saturating_mul(1000),
                retry_initial_ms: refresh.retry_initial_ms,
                retry_max_ms: refresh.retry_max_ms,
                // A list has no `kid`s: nothing asks for an early refetch.
                unknown_kid_min_interval_ms: interval_ms,
                fetch_timeout_ms: target.timeout_ms,
            },
        }
    }
}

/// The shared-data prefix of a provider's revocation list: another list source (cluster or
/// URI) under the same provider name gets other entries.
fn list_shared_key(name: &str, target: &HttpTarget) -> String {
    let source = ["revocation", target.cluster.as_str(), target.uri.as_str()].join("\n");
    format!(
        "{SHARED_LAYOUT}/{name}/revocation-{}",
        short_digest(&source)
    )
}

/// The shared-data prefix of a provider's record and lease. Listeners that configure the same
/// provider name with another issuer, cluster, URI or algorithm list must not share keys (the
/// fetching VM judges the document by its own algorithms), so the prefix holds a digest of all.
fn shared_key(name: &str, issuer: &str, algorithms: &[Algorithm], target: &HttpTarget) -> String {
    let algorithms: Vec<&str> = algorithms.iter().map(|alg| alg.as_str()).collect();
    let source = [
        issuer,
        target.cluster.as_str(),
        target.uri.as_str(),
        &algorithms.join(","),
    ]
    .join("\n");
    format!("{SHARED_LAYOUT}/{name}/{}", short_digest(&source))
}

/// The first 8 bytes of the SHA-256 of `source`, in hex.
fn short_digest(source: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, source.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> HttpTarget {
        HttpTarget {
            cluster: "idp".into(),
            uri: uri.into(),
            authority: "idp.example".into(),
            path: "/jwks".into(),
            timeout_ms: 2_000,
        }
    }

    const REFRESH: Refresh = Refresh {
        interval_s: 600,
        min_interval_s: 60,
        max_stale_s: 86_400,
        retry_initial_ms: 1_000,
        retry_max_ms: 60_000,
        unknown_kid_min_interval_s: 30,
    };

    fn plan(uri: &str, algorithms: &[Algorithm]) -> FetchPlan {
        let source = JwksSource::Remote(target(uri));
        FetchPlan::compile("p", "https://idp.example", algorithms, &source, &REFRESH)
            .unwrap_or_else(|| panic!("a remote source has a plan"))
    }

    #[test]
    fn the_plan_is_in_milliseconds_with_the_call_budget_as_fetch_timeout() {
        let plan = plan("https://idp.example/jwks", &[Algorithm::ES256]);
        assert_eq!(plan.policy.interval_ms, 600_000);
        assert_eq!(plan.policy.min_interval_ms, 60_000);
        assert_eq!(plan.policy.max_stale_ms, 86_400_000);
        assert_eq!(plan.policy.fetch_timeout_ms, 2_000);
        assert_eq!(plan.cluster, "idp");
        assert!(plan.record_key.starts_with("claimcheck/v2/p/"));
        assert!(plan.record_key.ends_with("/record"));
        assert!(plan.lease_key.ends_with("/lease"));
    }

    #[test]
    fn another_source_or_algorithm_list_gets_other_shared_keys() {
        let base = plan("https://idp.example/jwks", &[Algorithm::ES256]);
        let other_uri = plan("https://idp.example/other", &[Algorithm::ES256]);
        let other_algs = plan("https://idp.example/jwks", &[Algorithm::RS256]);
        assert_ne!(base.record_key, other_uri.record_key);
        assert_ne!(base.record_key, other_algs.record_key);
    }

    fn list_plan(uri: &str) -> FetchPlan {
        let list = RevocationSource {
            target: target(uri),
            interval_s: 30,
            min_interval_s: 5,
            max_stale_s: 300,
            max_bytes: 4_096,
        };
        FetchPlan::revocation_list("p", &list, &REFRESH)
    }

    #[test]
    fn a_revocation_list_has_its_own_shared_keys_beside_the_providers_keys() {
        let keys = plan("https://idp.example/jwks", &[Algorithm::ES256]);
        let list = list_plan("https://idp.example/jwks");
        assert_ne!(list.record_key, keys.record_key);
        assert_ne!(list.lease_key, keys.lease_key);
        assert!(list.record_key.starts_with("claimcheck/v2/p/revocation-"));
        let other = list_plan("https://idp.example/revoked");
        assert_ne!(list.record_key, other.record_key);
    }

    #[test]
    fn a_revocation_list_plan_never_refreshes_later_than_its_interval() {
        let list = list_plan("https://idp.example/revoked");
        assert_eq!(list.policy.interval_ms, 30_000);
        assert_eq!(list.policy.max_interval_ms, 30_000);
        assert_eq!(list.policy.max_stale_ms, 300_000);
        assert_eq!(list.first_step.max_body_bytes(), 4_096);
        assert_eq!(list.first_step.target(), ("idp.example", "/jwks"));
        let stated = crate::freshness::Lifetime::Seconds(120);
        assert_eq!(list.policy.interval_for(stated), 30_000);
    }

    #[test]
    fn the_floor_never_exceeds_the_configured_interval() {
        let refresh = Refresh {
            interval_s: 10,
            ..REFRESH
        };
        let source = JwksSource::Remote(target("https://idp.example/jwks"));
        let plan = FetchPlan::compile("p", "i", &[Algorithm::ES256], &source, &refresh);
        assert_eq!(plan.map(|p| p.policy.min_interval_ms), Some(10_000));
    }
}
