//! Rule selection over a compiled configuration: order, default, dry run.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck::config::{self, Config};
use claimcheck::policy::Action;
use claimcheck::request::Request;
use serde_json::json;

fn config(rules: serde_json::Value, dry_run: bool) -> Config {
    let doc = json!({ "rules": rules, "default": { "action": "deny" }, "dry_run": dry_run });
    config::load(doc.to_string().as_bytes()).unwrap()
}

/// The rule for `r`, matched on its canonical form as the pipeline does.
fn select<'c>(c: &'c Config, r: &Request) -> claimcheck::policy::SelectedRule<'c> {
    c.select_rule(r, &r.target(&c.paths).unwrap())
}

fn get(path: &str, route: Option<&str>) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        host: "api.example.com".into(),
        headers: Vec::new(),
        route_name: route.map(str::to_owned),
        peer: Default::default(),
    }
}

#[test]
fn the_first_matching_rule_wins_over_later_overlapping_rules() {
    let c = config(
        json!([
            { "name": "narrow", "match": { "path": { "exact": "/a/b" } }, "action": "deny" },
            { "name": "wide", "match": { "path": { "prefix": "/a" } }, "action": "allow" }
        ]),
        false,
    );
    let s = select(&c, &get("/a/b", None));
    assert_eq!((s.index, &**s.name), (Some(0), "narrow"));
    assert!(matches!(s.action, Action::Deny));
    let s = select(&c, &get("/a/c", None));
    assert_eq!((s.index, &**s.name), (Some(1), "wide"));
    assert!(matches!(s.action, Action::Allow));
}

#[test]
fn a_rule_without_match_matches_every_request() {
    let c = config(json!([{ "name": "all", "action": "allow" }]), false);
    assert_eq!(&**select(&c, &get("/anything", None)).name, "all");
    let c = config(
        json!([{ "name": "all", "match": {}, "action": "allow" }]),
        false,
    );
    assert_eq!(&**select(&c, &get("/", None)).name, "all");
}

#[test]
fn no_matching_rule_selects_the_explicit_default() {
    let c = config(
        json!([{ "match": { "path": { "prefix": "/x" } }, "action": "allow" }]),
        false,
    );
    let s = select(&c, &get("/y", None));
    assert_eq!((s.index, &**s.name), (None, "default"));
    assert!(matches!(s.action, Action::Deny));
}

#[test]
fn route_name_rules_need_the_envoy_route_name() {
    let c = config(
        json!([{ "name": "admin", "match": { "route_name": "admin-route" }, "action": "allow" }]),
        false,
    );
    assert_eq!(&**select(&c, &get("/", Some("admin-route"))).name, "admin");
    assert_eq!(&**select(&c, &get("/", Some("other"))).name, "default");
    assert_eq!(&**select(&c, &get("/", None)).name, "default");
}

#[test]
fn the_default_inherits_the_global_dry_run() {
    let c = config(json!([]), true);
    assert!(select(&c, &get("/", None)).dry_run);
    let c = config(json!([]), false);
    assert!(!select(&c, &get("/", None)).dry_run);
}
