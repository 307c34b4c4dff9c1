//! `on_configure`: a bad configuration is refused with its JSON path; a good one fetches
//! nothing until the first tick.

use claimcheck_harness::LogLevel;
use serde_json::json;

use crate::support::*;

#[test]
fn a_refresh_interval_below_the_minimum_is_rejected_with_its_json_path_in_the_log() {
    let host = build_host(&["idp"]);
    let config = config_with(json!({"refresh": {"interval_s": 5}}), json!({}));
    let error = host.start_vm(config).unwrap_err();
    let rejected = error.rejected().expect("rejected by on_configure");
    assert!(
        rejected.logged("providers.corp.refresh.interval_s"),
        "{:?}",
        rejected.logs
    );
}

#[test]
fn a_rule_naming_an_undefined_provider_is_rejected_with_its_json_path_in_the_log() {
    let host = build_host(&["idp"]);
    let config = config_with(
        json!({}),
        json!({"default": {"action": "require", "require": {"providers": {"any": ["nobody"]}}}}),
    );
    let error = host.start_vm(config).unwrap_err();
    let rejected = error.rejected().expect("rejected by on_configure");
    assert!(
        rejected.logged("default.require.providers.any"),
        "{:?}",
        rejected.logs
    );
    assert!(rejected.logged("nobody"), "{:?}", rejected.logs);
}

#[test]
fn a_configuration_that_is_not_json_is_rejected() {
    let host = build_host(&["idp"]);
    let error = host.start_vm("{not json").unwrap_err();
    let rejected = error.rejected().expect("rejected by on_configure");
    assert!(
        rejected.logged("configuration rejected"),
        "{:?}",
        rejected.logs
    );
}

#[test]
fn an_empty_configuration_is_rejected() {
    let host = build_host(&["idp"]);
    assert!(host.start_vm("").unwrap_err().rejected().is_some());
}

#[test]
fn a_valid_configuration_is_accepted_and_dispatches_nothing_until_the_first_tick() {
    let (host, _vm) = start(&remote_config());
    assert!(host.pending_calls().is_empty());
    assert!(host.logged(LogLevel::Info, "configured 1 provider(s), 1 rule(s)"));
    advance_ms(&host, 100);
    assert_eq!(host.pending_calls().len(), 1);
}

#[test]
fn an_inline_provider_never_fetches_and_verifies_at_once() {
    let key = SigningKey::generate("inline-1");
    let config = config_with(
        json!({"jwks": {"inline": {"keys": [key.jwk()]}}}),
        json!({}),
    );
    let (host, vm) = start(&config);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    advance_ms(&host, 5_000);
    assert!(host.pending_calls().is_empty());
}

#[test]
fn a_provider_without_audiences_is_rejected_with_its_json_path_in_the_log() {
    let host = build_host(&["idp"]);
    let mut config: serde_json::Value = serde_json::from_str(&remote_config()).unwrap();
    config["providers"]["corp"]
        .as_object_mut()
        .unwrap()
        .remove("audiences");
    let error = host.start_vm(config.to_string()).unwrap_err();
    let rejected = error.rejected().expect("rejected by on_configure");
    assert!(
        rejected.logged("providers.corp.audiences"),
        "{:?}",
        rejected.logs
    );
}

#[test]
fn a_rule_the_client_can_steer_loads_and_is_logged_as_a_warning_with_its_path() {
    let host = build_host(&["idp"]);
    let config = config_with(
        json!({}),
        json!({"rules": [
            {"name": "debug", "match": {"headers": [{"name": "x-debug", "present": true}]},
             "action": "allow"}
        ]}),
    );
    host.start_vm(config).unwrap();
    let warnings = host.logs_at(LogLevel::Warn);
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("rules[0].match.headers")
                && line.contains("x-debug")
                && line.contains("the default action")),
        "{warnings:?}"
    );
}

#[test]
fn a_configuration_without_steerable_rules_logs_no_warning() {
    let host = build_host(&["idp"]);
    host.start_vm(remote_config()).unwrap();
    let warnings = host.logs_at(LogLevel::Warn);
    assert!(
        !warnings
            .iter()
            .any(|line| line.contains("configuration warning")),
        "{warnings:?}"
    );
}
