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
