//! Every manifest under `deploy/` carries a plugin configuration the filter accepts, and
//! names the IdP cluster the way its platform does. (Envoy loading each one the way the
//! platform would is in the end-to-end suite, `tests/e2e/tests/e2e/platforms.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};

use common::claimcheck;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The manifests that carry a plugin configuration, with the cluster its provider must
/// fetch keys through on that platform.
const CONFIGURED: [(&str, &str); 4] = [
    ("istio/wasmplugin.yaml", "outbound|443||idp.example.com"),
    (
        "istio/trafficextension.yaml",
        "outbound|443||idp.example.com",
    ),
    ("kuma/meshproxypatch.yaml", "claimcheck-idp"),
    ("envoy/claimcheck-filter.yaml", "idp"),
];

/// The manifests around them, which carry none.
const SUPPORTING: [&str; 2] = ["istio/idp-egress.yaml", "envoy/envoy.yaml"];

#[test]
fn every_deploy_manifest_is_listed_here() {
    let mut on_disk = Vec::new();
    for platform in std::fs::read_dir(deploy_dir()).unwrap() {
        let platform = platform.unwrap().path();
        if !platform.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&platform).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "yaml") {
                let relative = file.strip_prefix(deploy_dir()).unwrap();
                on_disk.push(relative.to_str().unwrap().to_owned());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = CONFIGURED
        .iter()
        .map(|(file, _)| (*file).to_owned())
        .chain(SUPPORTING.iter().map(|file| (*file).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_deploy_manifest_plugin_configuration_validates() {
    for (file, _) in CONFIGURED {
        let path = deploy_dir().join(file);
        let run = claimcheck(&["validate", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.trim_end().ends_with(": ok"),
            "{file}: {}",
            run.stdout
        );
    }
}

#[test]
fn every_deploy_manifest_fetches_keys_through_its_platform_cluster() {
    for (file, cluster) in CONFIGURED {
        let config = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
        assert!(
            config.contains(&format!("\"cluster\": \"{cluster}\""))
                || config.contains(&format!("cluster: {cluster}")),
            "{file} does not fetch keys through {cluster}"
        );
    }
}

#[test]
fn every_deploy_manifest_sets_audiences() {
    for (file, _) in CONFIGURED {
        let config = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
        assert!(config.contains("audiences"), "{file}");
    }
}

#[test]
fn supporting_manifests_carry_no_plugin_configuration() {
    for file in SUPPORTING {
        let path = deploy_dir().join(file);
        let run = claimcheck(&["validate", path.to_str().unwrap()]);
        assert!(
            run.stdout.contains("no claimcheck configuration found")
                || run.stderr.contains("no claimcheck configuration found"),
            "{file}: {}{}",
            run.stdout,
            run.stderr
        );
    }
}
