//! `claimcheck`: the command line for the claimcheck filter. It reuses the filter's own
//! core (the same code that runs inside Envoy) to validate configurations and explain
//! decisions, prints the configuration schema, and makes development keys, tokens and a
//! local issuer for trying the filter out.
//!
//! Exit codes: 0 success (config valid, request allowed); 1 a negative answer (config
//! invalid, request refused); 2 usage or input/output error (bad arguments, unreadable
//! file, malformed key).

mod args;
mod explain;
mod files;
mod issuer;
mod keyfile;
mod keygen;
mod manifest;
mod mint;
mod output;
mod signing;
mod time;
mod validate;

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command, ExplainArgs, IssuerArgs, KeysArgs, TokenArgs, ValidateArgs};
use crate::output::{paint, BAD, DIM, HEADING, OK, WARN};

/// How a command ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitOutcome {
    /// 0: done; the configuration is valid; the request is allowed.
    Success = 0,
    /// 1: the answer is no: the configuration is invalid, or the request is refused.
    Negative = 1,
}

/// Exit status for usage and input/output errors (clap uses the same for bad arguments).
pub const EXIT_ERROR: u8 = 2;

/// A failure that stops a command before it can answer.
#[derive(Debug)]
pub enum CliError {
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    TooLarge {
        path: PathBuf,
        limit: u64,
    },
    NotUtf8 {
        path: PathBuf,
    },
    KeyFile {
        path: PathBuf,
        error: keyfile::KeyFileError,
    },
    Signing {
        path: PathBuf,
        error: signing::SigningError,
    },
    Token(mint::TokenError),
    ClaimArg(mint::ClaimArgError),
    Time(time::TimeError),
    KeyGen(keygen::KeyGenError),
    Issuer(issuer::IssuerError),
    Output(std::io::Error),
    /// `explain` needs exactly one configuration.
    Manifest(manifest::ManifestError),
    InvalidConfig {
        origin: String,
        errors: Vec<validate::Finding>,
    },
    SeveralConfigs {
        count: usize,
    },
    NoSuchConfig {
        select: usize,
        count: usize,
    },
    /// `--header` without a colon, or with an empty name.
    HeaderArg(String),
    /// `--peer-cert` is no PEM certificate, or `--peer-cert-sha256` no 64 hex digits.
    PeerCertArg(String),
    /// `--introspection` holds no introspection answer.
    IntrospectionArg {
        path: PathBuf,
        error: claimcheck::introspect::AnswerError,
    },
    RevocationListArg {
        path: PathBuf,
        error: claimcheck::revocation::ListError,
    },
    EmptyToken {
        path: PathBuf,
    },
    Jwks(explain::JwksFileError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            CliError::TooLarge { path, limit } => {
                write!(f, "{}: larger than {limit} bytes", path.display())
            }
            CliError::NotUtf8 { path } => write!(f, "{}: not UTF-8 text", path.display()),
            CliError::KeyFile { path, error } => write!(f, "{}: {error}", path.display()),
            CliError::Signing { path, error } => write!(f, "{}: {error}", path.display()),
            CliError::Token(error) => error.fmt(f),
            CliError::ClaimArg(error) => error.fmt(f),
            CliError::Time(error) => error.fmt(f),
            CliError::KeyGen(error) => error.fmt(f),
            CliError::Issuer(error) => error.fmt(f),
            CliError::Output(error) => write!(f, "cannot write output: {error}"),
            CliError::Manifest(error) => error.fmt(f),
            CliError::InvalidConfig { origin, errors } => {
                let at = if origin.is_empty() {
                    String::new()
                } else {
                    format!(" ({origin})")
                };
                write!(f, "the configuration{at} is invalid (run validate):")?;
                for error in errors {
                    write!(f, "\n  {}: {}", path_label(&error.path), error.message)?;
                }
                Ok(())
            }
            CliError::SeveralConfigs { count } => write!(
                f,
                "the file holds {count} configurations: choose one with --select 1..{count}"
            ),
            CliError::NoSuchConfig { select, count } => {
                write!(
                    f,
                    "--select {select}: the file holds {count} configuration(s)"
                )
            }
            CliError::HeaderArg(text) => write!(f, "--header {text:?} is not NAME:VALUE"),
            CliError::PeerCertArg(text) => write!(
                f,
                "{text:?} is not a PEM certificate or a 64-hex-digit SHA-256"
            ),
            CliError::EmptyToken { path } => write!(f, "{}: no token in the file", path.display()),
            CliError::IntrospectionArg { path, error } => write!(
                f,
                "{}: not an introspection answer ({error:?})",
                path.display()
            ),
            CliError::RevocationListArg { path, error } => {
                write!(f, "{}: not a revocation list ({error})", path.display())
            }
            CliError::Jwks(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CliError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.color.apply();
    match run(cli.command) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(error) => {
            let _ = writeln!(anstream::stderr(), "{} {error}", paint(BAD, "error:"));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(command: Command) -> Result<ExitOutcome, CliError> {
    match command {
        Command::Validate(args) => run_validate(args),
        Command::Explain(args) => run_explain(args),
        Command::Schema => schema(),
        Command::Keys(args) => keys(args),
        Command::Token(args) => token(args),
        Command::Issuer(args) => run_issuer(args),
    }
}

/// Reads a text file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, CliError> {
    let bytes = files::read_bounded(path, limit).map_err(|error| match error {
        files::BoundedReadError::TooLarge => CliError::TooLarge {
            path: path.to_path_buf(),
            limit,
        },
        files::BoundedReadError::Io(error) => CliError::Read {
            path: path.to_path_buf(),
            error,
        },
    })?;
    String::from_utf8(bytes).map_err(|_| CliError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// A JSON path for display; the empty path is the document itself.
fn path_label(path: &str) -> &str {
    if path.is_empty() {
        "(document)"
    } else {
        path
    }
}

fn schema() -> Result<ExitOutcome, CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(claimcheck::config::json_schema_string().as_bytes())
        .map_err(CliError::Output)?;
    Ok(ExitOutcome::Success)
}

fn run_validate(args: ValidateArgs) -> Result<ExitOutcome, CliError> {
    let text = read_text(&args.config, manifest::MAX_CONFIG_FILE_BYTES)?;
    let file = args.config.display().to_string();
    let reports = match validate::validate_text(&text) {
        Ok(reports) => reports,
        // A file in which no configuration can be found is an invalid input, not an I/O
        // failure: report it like any other invalid configuration.
        Err(error) => {
            if args.json {
                let report = serde_json::json!({
                    "file": file,
                    "valid": false,
                    "error": error.to_string(),
                    "configurations": [],
                });
                writeln!(std::io::stdout().lock(), "{report:#}").map_err(CliError::Output)?;
            } else {
                writeln!(
                    anstream::stdout().lock(),
                    "{file}: {} {error}",
                    paint(BAD, "invalid:")
                )
                .map_err(CliError::Output)?;
            }
            return Ok(ExitOutcome::Negative);
        }
    };
    let valid = reports.iter().all(validate::ConfigReport::is_valid);
    let mut stdout = anstream::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "file": file,
            "valid": valid,
            "configurations": reports.iter().map(validate::ConfigReport::to_json).collect::<Vec<_>>(),
        });
        writeln!(stdout, "{report:#}").map_err(CliError::Output)?;
    } else {
        for (index, report) in reports.iter().enumerate() {
            let mut name = file.clone();
            if reports.len() > 1 {
                name.push_str(&format!(" [{}]", index + 1));
            }
            if !report.origin.is_empty() {
                name.push_str(&format!(" ({})", report.origin));
            }
            if report.is_valid() {
                writeln!(stdout, "{name}: {}", paint(OK, "ok")).map_err(CliError::Output)?;
            } else {
                let count = report.errors.len();
                let noun = if count == 1 { "error" } else { "errors" };
                writeln!(stdout, "{name}: {}", paint(BAD, format!("{count} {noun}")))
                    .map_err(CliError::Output)?;
                for error in &report.errors {
                    writeln!(
                        stdout,
                        "  {}: {}",
                        paint(HEADING, path_label(&error.path)),
                        error.message
                    )
                    .map_err(CliError::Output)?;
                }
            }
            for warning in &report.warnings {
                writeln!(
                    stdout,
                    "  {} {}: {}",
                    paint(WARN, "warning:"),
                    path_label(&warning.path),
                    warning.message
                )
                .map_err(CliError::Output)?;
            }
        }
    }
    Ok(if valid {
        ExitOutcome::Success
    } else {
        ExitOutcome::Negative
    })
}

/// Largest token file read: the core refuses tokens over 16 KiB
/// (`extract::MAX_TOKEN_LEN`); 64 KiB leaves room for whitespace and comments around it.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

fn run_explain(args: ExplainArgs) -> Result<ExitOutcome, CliError> {
    let text = read_text(&args.config, manifest::MAX_CONFIG_FILE_BYTES)?;
    let found = manifest::find_configs(&text).map_err(CliError::Manifest)?;
    let count = found.len();
    let chosen = match (args.select, count) {
        (None, 1) => found.into_iter().next(),
        (None, _) => return Err(CliError::SeveralConfigs { count }),
        (Some(select), _) => found.into_iter().nth(select.wrapping_sub(1)),
    };
    let Some(chosen) = chosen else {
        return Err(CliError::NoSuchConfig {
            select: args.select.unwrap_or_default(),
            count,
        });
    };
    let config =
        claimcheck::config::load(&chosen.json).map_err(|errors| CliError::InvalidConfig {
            origin: chosen.origin.clone(),
            errors: errors
                .0
                .into_iter()
                .map(|error| validate::Finding {
                    path: error.path,
                    message: error.kind.to_string(),
                })
                .collect(),
        })?;
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => Some(token.trim().to_owned()),
        (None, Some(path)) => {
            let text = read_text(path, MAX_TOKEN_FILE_BYTES)?;
            let token = text.trim();
            if token.is_empty() {
                return Err(CliError::EmptyToken { path: path.clone() });
            }
            Some(token.to_owned())
        }
        (None, None) => None,
    };
    let jwks = match &args.jwks {
        Some(path) => Some(
            files::read_bounded(path, issuer::MAX_JWKS_FILE_BYTES).map_err(
                |error| match error {
                    files::BoundedReadError::TooLarge => CliError::TooLarge {
                        path: path.clone(),
                        limit: issuer::MAX_JWKS_FILE_BYTES,
                    },
                    files::BoundedReadError::Io(error) => CliError::Read {
                        path: path.clone(),
                        error,
                    },
                },
            )?,
        ),
        None => None,
    };
    let now_s = match &args.now {
        Some(text) => time::parse_instant(text),
        None => time::system_now(),
    }
    .map_err(CliError::Time)?;
    let mut headers = Vec::with_capacity(args.headers.len());
    for text in &args.headers {
        let (name, value) = text
            .split_once(':')
            .filter(|(name, _)| !name.trim().is_empty())
            .ok_or_else(|| CliError::HeaderArg(text.clone()))?;
        headers.push((
            name.trim().to_ascii_lowercase(),
            value.trim_start().to_owned(),
        ));
    }
    let peer_certificate = match (&args.peer_cert, &args.peer_cert_sha256) {
        (Some(path), _) => {
            let pem = read_text(path, manifest::MAX_CONFIG_FILE_BYTES)?;
            Some(
                pem_digest(&pem)
                    .ok_or_else(|| CliError::PeerCertArg(path.display().to_string()))?,
            )
        }
        (None, Some(hex)) => Some(
            claimcheck::peer::CertificateDigest::from_hex(hex)
                .ok_or_else(|| CliError::PeerCertArg(hex.clone()))?,
        ),
        (None, None) => None,
    };
    let introspection = match &args.introspection {
        Some(path) => {
            let text = read_text(path, claimcheck::introspect::MAX_ANSWER_BYTES as u64)?;
            let answer =
                claimcheck::introspect::answer::parse(text.as_bytes()).map_err(|error| {
                    CliError::IntrospectionArg {
                        path: path.clone(),
                        error,
                    }
                })?;
            Some(answer)
        }
        None => None,
    };
    let revocation_list = match &args.revocation_list {
        Some(path) => {
            let limit = claimcheck::revocation::MAX_LIST_BYTES as u64;
            let text = read_text(path, limit)?;
            let list = claimcheck::revocation::RevocationList::parse(text.as_bytes()).map_err(
                |error| CliError::RevocationListArg {
                    path: path.clone(),
                    error,
                },
            )?;
            Some(list)
        }
        None => None,
    };
    let request = claimcheck::request::Request {
        method: args.method,
        path: args.path,
        host: args.host,
        headers,
        route_name: args.route_name,
        peer: claimcheck::peer::Peer {
            mtls: args.mtls
                || peer_certificate.is_some()
                || args.peer_uri_san.is_some()
                || args.peer_dns_san.is_some()
                || args.peer_subject.is_some(),
            uri_san: args.peer_uri_san,
            dns_san: args.peer_dns_san,
            subject: args.peer_subject,
        },
    };
    let explanation = explain::explain(explain::ExplainInput {
        config,
        request,
        token,
        jwks,
        now_s,
        peer_certificate,
        introspection,
        revocation_list,
    })
    .map_err(CliError::Jwks)?;
    if args.json {
        writeln!(std::io::stdout().lock(), "{:#}", explanation.to_json())
            .map_err(CliError::Output)?;
    } else {
        let mut stdout = anstream::stdout().lock();
        explanation.render(&mut stdout).map_err(CliError::Output)?;
    }
    Ok(if explanation.allowed() {
        ExitOutcome::Success
    } else {
        ExitOutcome::Negative
    })
}

fn keys(args: KeysArgs) -> Result<ExitOutcome, CliError> {
    let generated = keygen::generate(args.alg, args.kid, args.bits).map_err(CliError::KeyGen)?;
    let written = keygen::write(&args.out_dir, &generated, args.force).map_err(CliError::KeyGen)?;
    let private_label = if generated.alg.is_symmetric() {
        "secret     "
    } else {
        "private key"
    };
    let mut stdout = anstream::stdout().lock();
    writeln!(
        stdout,
        "{} {} key pair {}",
        paint(HEADING, "generated"),
        generated.alg,
        paint(WARN, "(DEVELOPMENT ONLY: never use it in production)")
    )
    .and_then(|()| writeln!(stdout, "  {}  {}", paint(DIM, "kid        "), generated.kid))
    .and_then(|()| {
        writeln!(
            stdout,
            "  {}  {}",
            paint(DIM, private_label),
            written.private_path.display()
        )
    })
    .and_then(|()| {
        writeln!(
            stdout,
            "  {}  {}",
            paint(DIM, "jwks       "),
            written.jwks_path.display()
        )
    })
    .map_err(CliError::Output)?;
    Ok(ExitOutcome::Success)
}

fn token(args: TokenArgs) -> Result<ExitOutcome, CliError> {
    let text = read_text(&args.key, keyfile::MAX_KEY_FILE_BYTES)?;
    let file = keyfile::parse(&text).map_err(|error| CliError::KeyFile {
        path: args.key.clone(),
        error,
    })?;
    let key =
        signing::SigningKey::from_material(&file.material).map_err(|error| CliError::Signing {
            path: args.key.clone(),
            error,
        })?;
    let now = match &args.now {
        Some(text) => time::parse_instant(text),
        None => time::system_now(),
    }
    .map_err(CliError::Time)?;
    let ttl_s = if args.no_exp {
        None
    } else {
        Some(
            time::parse_duration(&args.ttl)
                .map_err(CliError::Time)?
                .as_secs(),
        )
    };
    let not_before = args
        .nbf
        .as_deref()
        .map(|text| time::parse_instant_or_offset(text, now))
        .transpose()
        .map_err(CliError::Time)?;
    let claims_json = args
        .claims_json
        .as_deref()
        .map(mint::parse_claims_json)
        .transpose()
        .map_err(CliError::ClaimArg)?
        .unwrap_or_default();
    let claims = args
        .claims
        .iter()
        .map(|text| mint::parse_claim(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::ClaimArg)?;
    let kid = match (args.no_kid, args.kid) {
        (true, _) => mint::KidChoice::Omit,
        (false, Some(kid)) => mint::KidChoice::Explicit(kid),
        (false, None) => mint::KidChoice::FromKey,
    };
    let dpop_key = match &args.dpop_key {
        Some(path) => {
            let text = read_text(path, keyfile::MAX_KEY_FILE_BYTES)?;
            let file = keyfile::parse(&text).map_err(|error| CliError::KeyFile {
                path: path.clone(),
                error,
            })?;
            Some((
                path.clone(),
                signing::SigningKey::from_material(&file.material).map_err(|error| {
                    CliError::Signing {
                        path: path.clone(),
                        error,
                    }
                })?,
            ))
        }
        None => None,
    };
    let mut claims = claims;
    if let Some((_, dpop)) = &dpop_key {
        claims.push((
            "cnf".to_owned(),
            serde_json::json!({ "jkt": dpop.thumbprint() }),
        ));
    }
    let spec = mint::TokenSpec {
        alg: args.alg,
        kid,
        typ: args.typ,
        issuer: args.iss,
        subject: args.sub,
        audiences: args.aud,
        claims_json,
        claims,
        now,
        ttl_s,
        not_before,
    };
    let hints = mint::KeyHints {
        alg: file.alg,
        kid: file.kid,
    };
    let token = mint::mint(&key, &hints, &spec).map_err(CliError::Token)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{token}").map_err(CliError::Output)?;
    if let (Some((path, dpop)), Some(htu)) = (&dpop_key, &args.dpop_htu) {
        for _ in 0..args.dpop_proofs {
            let request = ProofRequest {
                htm: &args.dpop_htm,
                htu,
                nonce: args.dpop_nonce.as_deref(),
            };
            let proof =
                dpop_proof(dpop, &request, &token, now).map_err(|error| CliError::Signing {
                    path: path.clone(),
                    error,
                })?;
            writeln!(stdout, "{proof}").map_err(CliError::Output)?;
        }
    }
    Ok(ExitOutcome::Success)
}

/// A DPoP proof (RFC 9449 §4.2) for one request with `token`, signed by `key` with its
/// default algorithm, with a random `jti`.
/// What a DPoP proof is made for: the request, and the server's nonce if it gave one.
struct ProofRequest<'a> {
    htm: &'a str,
    htu: &'a str,
    nonce: Option<&'a str>,
}

fn dpop_proof(
    key: &signing::SigningKey,
    request: &ProofRequest<'_>,
    token: &str,
    now: u64,
) -> Result<String, signing::SigningError> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let alg = key.default_algorithm();
    let mut jwk = serde_json::Map::new();
    for (name, value) in key.jwk_members() {
        jwk.insert(name.to_owned(), value.into());
    }
    let mut random = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let header = serde_json::json!({ "typ": "dpop+jwt", "alg": alg.as_str(), "jwk": jwk });
    let mut claims = serde_json::json!({
        "jti": b64(&random), "htm": request.htm, "htu": request.htu, "iat": now,
        "ath": claimcheck::dpop::thumbprint::sha256_b64(token.as_bytes()),
    });
    if let (Some(nonce), Some(claims)) = (request.nonce, claims.as_object_mut()) {
        claims.insert("nonce".to_owned(), nonce.into());
    }
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64(&signature)))
}

fn run_issuer(args: IssuerArgs) -> Result<ExitOutcome, CliError> {
    let settings = issuer::IssuerSettings {
        issuer: args.issuer,
        jwks_file: args.jwks,
        jwks_uri: args.jwks_uri,
        listen: args.listen,
    };
    let server = issuer::Issuer::bind(&settings).map_err(CliError::Issuer)?;
    let addr = server.local_addr().map_err(CliError::Output)?;
    let (discovery, jwks) = server.paths();
    // The server keeps running if nobody reads this (`| head -1`): startup lines are
    // best-effort, and a closed stdout must not take the issuer down.
    let mut stdout = anstream::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{addr}")
        .and_then(|()| {
            writeln!(
                stdout,
                "  {}  http://{addr}{discovery}",
                paint(DIM, "discovery")
            )
        })
        .and_then(|()| writeln!(stdout, "  {}  http://{addr}{jwks}", paint(DIM, "jwks     ")))
        .and_then(|()| {
            writeln!(
                stdout,
                "  {}  {} {}",
                paint(DIM, "issuer   "),
                settings.issuer,
                paint(WARN, "(development issuer: plain HTTP, loopback only)")
            )
        })
        .and_then(|()| stdout.flush());
    drop(stdout);
    server.serve().map_err(CliError::Output)?;
    Ok(ExitOutcome::Success)
}

/// The SHA-256 of the DER inside the first `CERTIFICATE` block of a PEM file.
fn pem_digest(pem: &str) -> Option<claimcheck::peer::CertificateDigest> {
    use base64::Engine;
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Some(claimcheck::peer::CertificateDigest::of_der(&der))
}
