//! A mock proxy-wasm host (ABI 0.2.1) on wasmtime, for testing any proxy-wasm module the way
//! Envoy runs it: several VMs sharing data, dispatched HTTP calls a test answers, a clock a test
//! moves, ticks, metrics, properties and logs. See README.md for the API and for every known
//! difference from Envoy.

mod abi;
pub mod envoy_crypto;
mod error;
mod host;
mod hostcalls;
mod memory;
mod properties;
mod state;
mod stream;
mod vm;
mod wasi;

pub mod fixtures;

pub use abi::{
    decode_pairs, encode_pairs, Action, Headers, LogLevel, MetricKind, PairsError, Status,
};
pub use error::{ConfigureRejected, HostError, StartError, StartPhase};
pub use host::{Host, HostBuilder, ENVOY_TIMEOUT_BODY};
pub use state::{
    CallId, DispatchedCall, ForeignFunction, LocalResponse, LogRecord, LogSource, MetricValue, VmId,
};
pub use stream::HttpStream;

use std::path::PathBuf;

/// Why a module path could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WasmPathError {
    /// The file is not there; `hint` says how to build it.
    Missing { path: PathBuf, hint: String },
}

impl std::fmt::Display for WasmPathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WasmPathError::Missing { path, hint } => {
                write!(f, "{} does not exist: {hint}", path.display())
            }
        }
    }
}

impl std::error::Error for WasmPathError {}

/// The module a test suite should load: the path in environment variable `env_var` when set,
/// else `default` (relative paths are taken from the workspace root, where `target/` is).
/// A missing file is an error whose message is `hint` (e.g. "run `make build` first").
pub fn wasm_path_from_env_or(
    env_var: &str,
    default: &str,
    hint: &str,
) -> Result<PathBuf, WasmPathError> {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let path = if path.is_relative() {
        workspace_root().join(path)
    } else {
        path
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(WasmPathError::Missing {
            path,
            hint: hint.to_string(),
        })
    }
}

/// The workspace root: two levels above this crate's manifest (`tests/harness`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(manifest)
}
