//! Loading modules: what this host refuses, and how loudly.

// Test helpers fail the test by panicking; that is their job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck_harness::{wasm_path_from_env_or, Host, HostError, StartError, WasmPathError};
use std::path::PathBuf;

/// LEB128 is not needed: every size below is under 128.
fn section(id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![id, body.len() as u8];
    out.extend_from_slice(body);
    out
}

fn name(text: &str) -> Vec<u8> {
    let mut out = vec![text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    out
}

/// A minimal module: optionally one `() -> ()` import `env::<import>`, one empty function,
/// optionally exported as `export`.
fn module(import: Option<&str>, export: Option<&str>) -> Vec<u8> {
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend(section(1, &[1, 0x60, 0, 0]));
    let mut function_index = 0u8;
    if let Some(import) = import {
        let mut body = vec![1];
        body.extend(name("env"));
        body.extend(name(import));
        body.extend([0x00, 0]);
        wasm.extend(section(2, &body));
        function_index = 1;
    }
    wasm.extend(section(3, &[1, 0]));
    if let Some(export) = export {
        let mut body = vec![1];
        body.extend(name(export));
        body.extend([0x00, function_index]);
        wasm.extend(section(7, &body));
    }
    wasm.extend(section(10, &[1, 2, 0, 0x0b]));
    wasm
}

fn write_module(file: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("claimcheck-harness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn start(path: PathBuf) -> StartError {
    Host::builder()
        .wasm(path)
        .build()
        .unwrap()
        .start_vm("")
        .unwrap_err()
}

#[test]
fn an_unknown_import_fails_at_instantiation_and_names_the_import() {
    let path = write_module(
        "unknown-import.wasm",
        &module(Some("proxy_teleport"), Some("proxy_abi_version_0_2_1")),
    );
    match start(path) {
        StartError::Host(HostError::MissingImports { imports }) => {
            assert_eq!(imports, ["env::proxy_teleport"])
        }
        other => panic!("expected MissingImports, got {other}"),
    }
}

#[test]
fn a_module_without_the_0_2_1_abi_export_is_refused() {
    let path = write_module(
        "old-abi.wasm",
        &module(None, Some("proxy_abi_version_0_1_0")),
    );
    match start(path) {
        StartError::Host(HostError::UnsupportedAbi { abi_exports }) => {
            assert_eq!(abi_exports, ["proxy_abi_version_0_1_0"])
        }
        other => panic!("expected UnsupportedAbi, got {other}"),
    }
}

#[test]
fn bytes_that_are_not_wasm_fail_to_compile() {
    let path = write_module("garbage.wasm", b"definitely not wasm");
    assert!(matches!(
        Host::builder().wasm(path).build(),
        Err(HostError::Compile { .. })
    ));
}

#[test]
fn a_missing_module_file_is_a_read_error() {
    let result = Host::builder().wasm("/nonexistent/module.wasm").build();
    assert!(matches!(result, Err(HostError::Read { .. })));
}

#[test]
fn a_missing_default_wasm_path_reports_the_hint() {
    let error = wasm_path_from_env_or(
        "CLAIMCHECK_HARNESS_TEST_UNSET_VARIABLE",
        "target/no-such-dir/none.wasm",
        "run `make build` first",
    )
    .unwrap_err();
    let WasmPathError::Missing { path, hint } = &error;
    assert!(
        path.is_absolute() && path.ends_with("target/no-such-dir/none.wasm"),
        "{path:?}"
    );
    assert_eq!(hint, "run `make build` first");
    assert!(error.to_string().contains("run `make build` first"));
}

#[test]
fn an_existing_default_wasm_path_is_returned_absolute() {
    let path = write_module(
        "present.wasm",
        &module(None, Some("proxy_abi_version_0_2_1")),
    );
    let found = wasm_path_from_env_or(
        "CLAIMCHECK_HARNESS_TEST_UNSET_VARIABLE",
        path.to_str().unwrap(),
        "unused",
    )
    .unwrap();
    assert_eq!(found, path);
}
