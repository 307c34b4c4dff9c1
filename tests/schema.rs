//! The committed JSON Schema must match the configuration types.
#![cfg(feature = "schema")]
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

const REGENERATE: &str = "UPDATE_SCHEMA=1 cargo test -p claimcheck --features schema --test schema";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/claimcheck.schema.json")
}

#[test]
fn committed_schema_matches_the_configuration_types() {
    let generated = claimcheck::config::json_schema_string();
    let path = committed_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/claimcheck.schema.json is stale; regenerate it with:\n    {REGENERATE}"
    );
}

#[test]
fn the_schema_requires_audiences_as_the_loader_does() {
    let schema: serde_json::Value =
        serde_json::from_str(&claimcheck::config::json_schema_string()).unwrap();
    let provider = &schema["definitions"]["Provider"];
    let required = provider["required"].as_array().unwrap();
    assert!(
        required.contains(&serde_json::json!("audiences")),
        "{required:?}"
    );
    let mut missing = base();
    missing["providers"]["corp"]
        .as_object_mut()
        .unwrap()
        .remove("audiences");
    let errors = config::load(missing.to_string().as_bytes()).unwrap_err();
    assert_eq!(errors.0[0].path, "providers.corp.audiences");
}

#[test]
fn schema_describes_the_top_level_fields() {
    let schema: serde_json::Value =
        serde_json::from_str(&claimcheck::config::json_schema_string()).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for field in [
        "providers",
        "rules",
        "default",
        "dry_run",
        "token_cache",
        "realm",
    ] {
        assert!(properties.contains_key(field), "{field}");
    }
    assert_eq!(schema["required"], serde_json::json!(["default"]));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}

use claimcheck::config::bounds::{Numeric, LIMITS, NUMERIC};
use claimcheck::config::{self, Config, JwksSource};
use serde_json::{json, Value};

/// A minimal valid configuration: one provider with discovery, one rule, a default.
fn base() -> Value {
    json!({
        "providers": { "corp": {
            "issuer": "https://idp.example.com",
            "audiences": ["orders-api"],
            "jwks": { "oidc_discovery": { "cluster": "idp" } },
            "dpop": {
                "mode": "allowed",
                "nonce": { "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" }
            },
            "introspection": {
                "cluster": "idp",
                "uri": "https://idp.example.com/introspect",
                "client_auth": { "bearer": "claimcheck-caller" }
            },
            "revocation": { "cluster": "idp", "uri": "https://idp.example.com/revoked.json" }
        } },
        "rules": [ { "name": "health", "match": { "path": { "exact": "/healthz" } }, "action": "allow" } ],
        "default": { "action": "deny" }
    })
}

/// Where a definition's object sits in [`base`] (created when absent).
fn pointer(definition: &str) -> &'static str {
    match definition {
        "Provider" => "/providers/corp",
        "Refresh" => "/providers/corp/refresh",
        "ColdStart" => "/providers/corp/cold_start",
        "Dpop" => "/providers/corp/dpop",
        "DpopNonce" => "/providers/corp/dpop/nonce",
        "Introspection" => "/providers/corp/introspection",
        "Discovery" => "/providers/corp/jwks/oidc_discovery",
        "Remote" => "/providers/corp/jwks/remote",
        "Revocation" => "/providers/corp/revocation",
        "TokenCache" => "/token_cache",
        "Configuration" => "",
        "Match" => "/rules/0/match",
        "Require" => "/default/require",
        other => panic!("no place for {other} in the base configuration"),
    }
}

/// Sets `field` of the object at `ptr`, creating the object.
fn set_field(config: &mut Value, ptr: &str, field: &str, value: Value) {
    if config.pointer(ptr).is_none() {
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        config.pointer_mut(parent).unwrap()[key] = json!({});
    }
    let target = if ptr.is_empty() {
        config
    } else {
        config.pointer_mut(ptr).unwrap()
    };
    target[field] = value;
}

/// Other settings a value must be read with: the loader also requires `max_stale_s` ≥
/// `interval_s` (of the keys' refresh and of a revocation list) and `retry_max_ms` ≥
/// `retry_initial_ms`, so the partner sits at the end of its range that lets the field under
/// test span its own.
fn with_partner(config: &mut Value, n: &Numeric) {
    let refresh = "/providers/corp/refresh";
    let list = "/providers/corp/revocation";
    match (n.definition, n.field) {
        ("Refresh", "max_stale_s") => set_field(config, refresh, "interval_s", json!(10)),
        ("Refresh", "interval_s") => set_field(config, refresh, "max_stale_s", json!(30 * 86_400)),
        ("Refresh", "retry_max_ms") => set_field(config, refresh, "retry_initial_ms", json!(100)),
        ("Refresh", "retry_initial_ms") => {
            set_field(config, refresh, "retry_max_ms", json!(3_600_000))
        }
        ("Revocation", "max_stale_s") => set_field(config, list, "interval_s", json!(1)),
        ("Revocation", "interval_s") => set_field(config, list, "max_stale_s", json!(7 * 86_400)),
        _ => {}
    }
}

fn definition<'s>(schema: &'s Value, name: &str) -> &'s Value {
    if name == "Configuration" {
        schema
    } else {
        &schema["definitions"][name]
    }
}

/// The `minimum` and `maximum` the generated schema states for a field.
fn schema_range(schema: &Value, n: &Numeric) -> (u64, u64) {
    let field = &definition(schema, n.definition)["properties"][n.field];
    let min = field["minimum"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}.{}: no integer minimum", n.definition, n.field));
    let max = field["maximum"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}.{}: no integer maximum", n.definition, n.field));
    (min, max)
}

fn load_with(n: &Numeric, value: u64) -> Result<Config, config::ConfigErrors> {
    let mut config = base();
    if n.definition == "Remote" {
        config["providers"]["corp"]["jwks"] =
            json!({ "remote": { "cluster": "idp", "uri": "https://idp.example.com/jwks.json" } });
    }
    if n.definition == "Require" {
        config["default"] =
            json!({ "action": "require", "require": { "providers": { "any": ["corp"] } } });
    }
    with_partner(&mut config, n);
    set_field(&mut config, pointer(n.definition), n.field, json!(value));
    config::load(config.to_string().as_bytes())
}

#[test]
fn values_just_inside_and_outside_every_numeric_bound_load_or_fail_as_the_schema_says() {
    let schema = claimcheck::config::json_schema();
    for n in &NUMERIC {
        let (min, max) = schema_range(&schema, n);
        let mut probes = vec![min, max, max + 1];
        if min > 0 {
            probes.push(min - 1);
        }
        for value in probes {
            let schema_accepts = (min..=max).contains(&value);
            let loaded = load_with(n, value);
            assert_eq!(
                loaded.is_ok(),
                schema_accepts,
                "{}.{} = {value}: schema says {min}..={max}, loader says {loaded:?}",
                n.definition,
                n.field
            );
            if let Err(errors) = loaded {
                assert!(
                    errors.0.iter().all(|e| e.path.ends_with(n.field)),
                    "{}.{} = {value}: {errors}",
                    n.definition,
                    n.field
                );
            }
        }
    }
}

/// The value the loader compiled for a numeric field of [`base`].
fn compiled(config: &Config, n: &Numeric) -> Option<u64> {
    let provider = &config.providers[0];
    let list = provider.revocation.as_ref();
    let timeout = match &provider.jwks {
        JwksSource::OidcDiscovery(target) | JwksSource::Remote(target) => target.timeout_ms,
        JwksSource::Inline(_) | JwksSource::None => 0,
    };
    Some(match (n.definition, n.field) {
        ("Remote" | "Discovery", "timeout_ms") => timeout,
        ("Revocation", "timeout_ms") => list?.timeout_ms,
        ("Revocation", "interval_s") => list?.policy.interval_ms / 1000,
        ("Revocation", "min_interval_s") => list?.policy.min_interval_ms / 1000,
        ("Revocation", "max_stale_s") => list?.policy.max_stale_ms / 1000,
        ("Revocation", "max_bytes") => list?.first_step.max_body_bytes() as u64,
        ("Refresh", "interval_s") => provider.refresh.interval_s,
        ("Refresh", "min_interval_s") => provider.refresh.min_interval_s,
        ("Refresh", "max_stale_s") => provider.refresh.max_stale_s,
        ("Refresh", "retry_initial_ms") => provider.refresh.retry_initial_ms,
        ("Refresh", "retry_max_ms") => provider.refresh.retry_max_ms,
        ("Refresh", "unknown_kid_min_interval_s") => provider.refresh.unknown_kid_min_interval_s,
        ("ColdStart", "max_wait_ms") => provider.cold_start.max_wait_ms,
        ("Provider", "clock_skew_s") => provider.claims.clock_skew_s,
        ("Provider", "max_lifetime_s") => return provider.claims.max_lifetime_s,
        ("Provider", "max_token_bytes") => provider.max_token_bytes as u64,
        ("Dpop", "max_age_s") => provider.dpop.as_ref()?.max_age_s,
        ("Dpop", "clock_skew_s") => provider.dpop.as_ref()?.clock_skew_s,
        ("Dpop", "replay_slots") => u64::from(provider.dpop.as_ref()?.replay_slots),
        ("DpopNonce", "lifetime_s") => provider.dpop.as_ref()?.nonce.as_ref()?.lifetime_s,
        ("Introspection", "timeout_ms") => provider.introspection.as_ref()?.policy.timeout_ms,
        ("Introspection", "max_ttl_s") => provider.introspection.as_ref()?.policy.max_ttl_ms / 1000,
        ("Introspection", "negative_ttl_s") => {
            provider.introspection.as_ref()?.policy.negative_ttl_ms / 1000
        }
        ("Introspection", "failure_ttl_ms") => {
            provider.introspection.as_ref()?.policy.failure_ttl_ms
        }
        ("Introspection", "slots") => u64::from(provider.introspection.as_ref()?.policy.slots),
        ("TokenCache", "max_entries") => config.token_cache.max_entries as u64,
        ("Require", "max_token_age_s") => {
            return match &config.default {
                claimcheck::policy::Action::Require(requirement) => requirement.max_token_age_s,
                _ => None,
            }
        }
        other => panic!("no compiled value for {other:?}"),
    })
}

#[test]
fn every_numeric_default_in_the_schema_is_what_the_loader_uses_when_the_field_is_absent() {
    let schema = claimcheck::config::json_schema();
    let loaded = config::load(base().to_string().as_bytes()).unwrap();
    for n in &NUMERIC {
        let field = &definition(&schema, n.definition)["properties"][n.field];
        assert_eq!(
            field["default"].as_u64(),
            compiled(&loaded, n),
            "{}.{}",
            n.definition,
            n.field
        );
        assert!(field["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

/// `count` valid items for a limited list (or map, or string length).
fn items(field: &str, count: usize) -> Value {
    match field {
        "providers" => {
            let mut map = serde_json::Map::new();
            for i in 0..count {
                map.insert(
                    format!("p{i}"),
                    json!({ "issuer": format!("https://idp{i}.example.com"), "audiences": ["a"],
                            "jwks": { "oidc_discovery": { "cluster": "idp" } } }),
                );
            }
            Value::Object(map)
        }
        "rules" => json!((0..count)
            .map(|_| json!({ "action": "deny" }))
            .collect::<Vec<_>>()),
        "realm" => json!("r".repeat(count)),
        "sources" => json!((0..count)
            .map(|i| json!({ "header": format!("x-token-{i}") }))
            .collect::<Vec<_>>()),
        "claims_to_headers" => json!((0..count)
            .map(|i| json!({ "claim": "sub", "header": format!("x-claim-{i}") }))
            .collect::<Vec<_>>()),
        "methods" => json!(vec!["GET"; count]),
        "hosts" => json!(vec!["api.example.com"; count]),
        "headers" => json!(vec![json!({ "name": "x-tenant", "present": true }); count]),
        other => panic!("no items for {other}"),
    }
}

#[test]
fn every_size_limit_in_the_schema_is_the_loaders() {
    let schema = claimcheck::config::json_schema();
    for limit in &LIMITS {
        let stated = definition(&schema, limit.definition)["properties"][limit.field]
            [limit.keyword]
            .as_u64()
            .unwrap_or_else(|| {
                panic!("{}.{}: no {}", limit.definition, limit.field, limit.keyword)
            });
        for count in [stated, stated + 1] {
            let mut config = base();
            if limit.field == "providers" {
                config["rules"] = json!([]);
            }
            set_field(
                &mut config,
                pointer(limit.definition),
                limit.field,
                items(limit.field, count as usize),
            );
            let loaded = config::load(config.to_string().as_bytes());
            assert_eq!(
                loaded.is_ok(),
                count <= stated,
                "{}.{} with {count}: schema says {} {stated}, loader says {loaded:?}",
                limit.definition,
                limit.field,
                limit.keyword
            );
        }
    }
}

#[test]
fn provider_ids_the_schema_refuses_are_the_ids_the_loader_refuses() {
    let schema = claimcheck::config::json_schema();
    let pattern = schema["properties"]["providers"]["propertyNames"]["pattern"]
        .as_str()
        .unwrap();
    assert_eq!(pattern, "^[A-Za-z0-9_-]{1,64}$");
    for (id, valid) in [
        ("corp", true),
        ("a-b_C9", true),
        (&*"x".repeat(64), true),
        (&*"x".repeat(65), false),
        ("with space", false),
        ("dot.ted", false),
    ] {
        let mut config = base();
        let provider = config["providers"]["corp"].take();
        config["providers"] = json!({ id: provider });
        let loaded = config::load(config.to_string().as_bytes());
        assert_eq!(loaded.is_ok(), valid, "{id:?}: {loaded:?}");
    }
}
