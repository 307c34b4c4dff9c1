//! Runs the built `claimcheck` binary and captures what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

/// A file of the repository, by its path from the repository root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Writes `text` to `dir/name` and returns the path, for the CLI's arguments.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_claimcheck"));
    command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    command
}

pub fn claimcheck(args: &[&str]) -> Run {
    Run::from(command().args(args).output().unwrap())
}

pub fn claimcheck_in(dir: &Path, args: &[&str]) -> Run {
    Run::from(command().current_dir(dir).args(args).output().unwrap())
}

/// Generates a key pair into `dir` and returns (key file, jwks file) paths as strings.
pub fn keys(dir: &Path, alg: &str, kid: &str) -> (String, String) {
    let run = claimcheck(&[
        "keys",
        "--alg",
        alg,
        "--kid",
        kid,
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "keys failed: {}", run.stderr);
    let key = if alg.starts_with("HS") {
        "secret.key"
    } else {
        "private-key.pem"
    };
    (
        dir.join(key).to_str().unwrap().to_owned(),
        dir.join("jwks.json").to_str().unwrap().to_owned(),
    )
}

/// Mints a token; panics unless the command succeeds.
pub fn token(args: &[&str]) -> String {
    let mut full = vec!["token"];
    full.extend_from_slice(args);
    let run = claimcheck(&full);
    assert_eq!(run.code, 0, "token failed: {}", run.stderr);
    run.stdout.trim().to_owned()
}

/// Decodes one part (0 header, 1 claims) of a compact JWS.
pub fn jws_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
