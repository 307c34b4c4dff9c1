//! Every fuzz corpus file, replayed on stable through the very functions the fuzz targets
//! call (`fuzz/src/lib.rs`), so what the fuzzer found once stays found without libFuzzer or
//! nightly. `make fuzz` runs the targets themselves; `fuzz/README.md` says how a finding
//! becomes a corpus file and a named test here.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpora` regenerates the seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::fs;
use std::path::{Path, PathBuf};

use claimcheck::authorize::Outcome;
use claimcheck::decision::Decision;

/// A fuzz target's function: the fuzzer's bytes in, a panic on a finding.
type Target = fn(&[u8]);

/// The targets, by the name of their `fuzz/corpus/<name>/` directory.
const TARGETS: [(&str, Target); 6] = [
    ("token", targets::token),
    ("jwks", targets::jwks),
    ("discovery", targets::discovery),
    ("config", targets::config),
    ("policy", targets::policy),
    ("request", targets::request),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_replays_through_its_target_without_a_finding() {
    for (target, run) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} has no seed");
        for (path, bytes) in files {
            if let Err(panic) = std::panic::catch_unwind(|| run(&bytes)) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{target}: {} fails: {message}", path.display());
            }
        }
    }
}

#[test]
fn seed_tokens_verify_so_the_fuzzer_starts_past_the_signature_check() {
    let fixture = targets::fixture();
    let valid: Vec<_> = corpus("token")
        .into_iter()
        .filter(|(path, _)| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("valid-")
        })
        .collect();
    assert_eq!(valid.len(), 5, "one valid seed per fixed fixture key");
    for (path, bytes) in valid {
        let token = String::from_utf8(bytes).unwrap();
        let outcome = targets::decide_bearer(&fixture.config, "GET", "/anything", &token);
        assert!(
            matches!(&outcome, Outcome::Decided(v) if matches!(v.decision, Decision::Allow(_))),
            "{} is not accepted by the fixture: {outcome:?}",
            path.display()
        );
    }
}

#[test]
fn the_fixture_configuration_is_a_config_seed() {
    let keys = &targets::fixture().keys;
    let seed = fs::read(corpus_dir("config").join("fixture")).unwrap();
    let seed: serde_json::Value = serde_json::from_slice(&seed).unwrap();
    assert_eq!(seed, targets::fixture_document(keys));
}

/// Writes every seed of `targets::seeds` into `fuzz/corpus/<target>/<name>`.
#[test]
#[ignore = "regenerates the checked-in seed corpora"]
fn write_seed_corpora() {
    for (target, name, bytes) in targets::seeds() {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    }
}
