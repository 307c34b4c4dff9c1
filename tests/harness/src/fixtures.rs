//! Building proxy-wasm test modules (small crates with their own `[workspace]`) for
//! `wasm32-wasip1`, into the workspace's shared `target/` so the build is cached across runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The target every proxy-wasm Rust module is built for.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// Why a fixture module could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixtureError {
    /// The Rust standard library for `wasm32-wasip1` is not installed.
    MissingTarget { hint: String },
    /// `cargo` could not be started.
    Spawn { message: String },
    /// `cargo build` failed; `stderr` ends with the compiler's message.
    Build { manifest: PathBuf, stderr: String },
    /// The build succeeded but the expected `.wasm` is not there.
    MissingOutput { path: PathBuf },
}

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixtureError::MissingTarget { hint } => write!(f, "{hint}"),
            FixtureError::Spawn { message } => write!(f, "cannot run cargo: {message}"),
            FixtureError::Build { manifest, stderr } => {
                write!(f, "building {} failed:\n{stderr}", manifest.display())
            }
            FixtureError::MissingOutput { path } => {
                write!(f, "the build succeeded but {} is missing", path.display())
            }
        }
    }
}

impl std::error::Error for FixtureError {}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

fn check_target() -> Result<(), FixtureError> {
    let hint = || FixtureError::MissingTarget {
        hint: format!(
            "the Rust target {WASM_TARGET} is not installed: run `rustup target add {WASM_TARGET}` \
             (or `make toolchain`)"
        ),
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .map_err(|e| FixtureError::Spawn {
            message: e.to_string(),
        })?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && Path::new(&libdir).is_dir() {
        Ok(())
    } else {
        Err(hint())
    }
}

/// Builds the crate at `manifest` in release mode for `wasm32-wasip1` and returns the path of
/// `<lib_name>.wasm`. Cargo's own locking makes concurrent calls safe; the build is incremental.
pub fn build_wasm_crate(manifest: &Path, lib_name: &str) -> Result<PathBuf, FixtureError> {
    check_target()?;
    let target_dir = target_dir();
    let output = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| FixtureError::Spawn {
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(FixtureError::Build {
            manifest: manifest.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let wasm = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{lib_name}.wasm"));
    if wasm.is_file() {
        Ok(wasm)
    } else {
        Err(FixtureError::MissingOutput { path: wasm })
    }
}

/// The `probe` module (`tests/harness/fixtures/probe`), built once per test process. It
/// exercises every host call; the harness's own tests run against it.
pub fn probe_wasm() -> Result<PathBuf, FixtureError> {
    static PROBE: OnceLock<Mutex<Option<Result<PathBuf, FixtureError>>>> = OnceLock::new();
    let cell = PROBE.get_or_init(Default::default);
    let mut built = cell.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(result) = built.as_ref() {
        return result.clone();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/probe/Cargo.toml");
    let result = build_wasm_crate(&manifest, "probe");
    *built = Some(result.clone());
    result
}
