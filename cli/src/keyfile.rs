//! The on-disk format of development keys: a PEM block (RFC 7468) or an HMAC secret,
//! preceded by `#` comment lines that say what the key is for and which `alg`/`kid` it
//! was generated with, so `claimcheck token --key FILE` needs no other flags.
//!
//! RFC 7468 §5.2 lets explanatory text precede the encapsulation boundary; OpenSSL and
//! most PEM readers skip it, so these files stay usable by other tools.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Largest key file we read. An 8192-bit RSA key (ring's maximum) in PKCS#8 PEM is about
/// 6.5 KiB; 64 KiB leaves room for comments and refuses accidental multi-megabyte input.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The warning written at the top of every file `claimcheck keys` produces.
pub const DEVELOPMENT_WARNING: &str =
    "claimcheck development key: for local testing only, never for production.";

/// What a key file holds once its comments are set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileMaterial {
    /// A `PRIVATE KEY` block: PKCS#8 DER (RFC 5208 / RFC 5958).
    Pkcs8(Vec<u8>),
    /// An `RSA PRIVATE KEY` block: PKCS#1 `RSAPrivateKey` DER (RFC 8017 appendix A.1.2).
    Pkcs1Rsa(Vec<u8>),
    /// An HMAC secret: one base64url line (RFC 7518 §3.2, the JWK `k` encoding).
    Secret(Vec<u8>),
}

/// A parsed key file: the key plus the `alg`/`kid` hints from its comment lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    pub material: KeyFileMaterial,
    pub alg: Option<String>,
    pub kid: Option<String>,
}

/// Why a key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// A PEM block other than `PRIVATE KEY` / `RSA PRIVATE KEY` (for example `EC PRIVATE
    /// KEY`, which ring cannot load: convert it with `openssl pkcs8 -topk8 -nocrypt`).
    UnsupportedPemLabel(String),
    /// `-----BEGIN` without its matching `-----END` line.
    UnterminatedPem,
    /// The PEM body is not base64.
    PemBodyNotBase64,
    /// No PEM block and no base64url secret line.
    Empty,
    /// The secret is not base64url, or spans several lines.
    SecretNotBase64Url,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::UnsupportedPemLabel(label) => write!(
                f,
                "PEM block \"{label}\" is not supported: use PKCS#8 (\"PRIVATE KEY\"), e.g. \
                 `openssl pkcs8 -topk8 -nocrypt -in KEY`"
            ),
            KeyFileError::UnterminatedPem => f.write_str("PEM block has no -----END line"),
            KeyFileError::PemBodyNotBase64 => f.write_str("PEM body is not valid base64"),
            KeyFileError::Empty => {
                f.write_str("no key found: expected a PEM block or a base64url HMAC secret")
            }
            KeyFileError::SecretNotBase64Url => {
                f.write_str("HMAC secret must be a single base64url line (the JWK \"k\" value)")
            }
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Parses a key file's text. Never panics on any input.
pub fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
    let mut alg = None;
    let mut kid = None;
    let mut body = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if let Some(value) = comment.strip_prefix("alg:") {
                alg = Some(value.trim().to_owned());
            } else if let Some(value) = comment.strip_prefix("kid:") {
                kid = Some(value.trim().to_owned());
            }
            continue;
        }
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            let material = read_pem_block(label, &mut lines)?;
            return Ok(KeyFile { material, alg, kid });
        }
        if !line.is_empty() {
            body.push(line);
        }
    }
    match body.as_slice() {
        [] => Err(KeyFileError::Empty),
        [secret] => {
            // Accept padded input too: some tools pad base64url (RFC 4648 §5 allows it).
            let secret = secret.trim_end_matches('=');
            let bytes = URL_SAFE_NO_PAD
                .decode(secret)
                .map_err(|_| KeyFileError::SecretNotBase64Url)?;
            if bytes.is_empty() {
                return Err(KeyFileError::Empty);
            }
            Ok(KeyFile {
                material: KeyFileMaterial::Secret(bytes),
                alg,
                kid,
            })
        }
        _ => Err(KeyFileError::SecretNotBase64Url),
    }
}

fn read_pem_block<'a>(
    label: &str,
    lines: &mut impl Iterator<Item = &'a str>,
) -> Result<KeyFileMaterial, KeyFileError> {
    let end = format!("-----END {label}-----");
    let mut base64 = String::new();
    let mut terminated = false;
    for line in lines.by_ref() {
        if line == end {
            terminated = true;
            break;
        }
        base64.push_str(line);
    }
    if !terminated {
        return Err(KeyFileError::UnterminatedPem);
    }
    let der = STANDARD
        .decode(base64.as_bytes())
        .map_err(|_| KeyFileError::PemBodyNotBase64)?;
    match label {
        "PRIVATE KEY" => Ok(KeyFileMaterial::Pkcs8(der)),
        "RSA PRIVATE KEY" => Ok(KeyFileMaterial::Pkcs1Rsa(der)),
        other => Err(KeyFileError::UnsupportedPemLabel(other.to_owned())),
    }
}

/// Renders a PKCS#8 private key as a commented PEM file.
pub fn render_pkcs8(pkcs8_der: &[u8], alg: &str, kid: &str) -> String {
    let mut out = preamble(alg, kid);
    out.push_str("-----BEGIN PRIVATE KEY-----\n");
    let encoded = STANDARD.encode(pkcs8_der);
    // RFC 7468 §2: generators wrap base64 lines at exactly 64 characters.
    let mut rest = encoded.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Renders an HMAC secret as a commented base64url line.
pub fn render_secret(secret: &[u8], alg: &str, kid: &str) -> String {
    let mut out = preamble(alg, kid);
    out.push_str(&URL_SAFE_NO_PAD.encode(secret));
    out.push('\n');
    out
}

fn preamble(alg: &str, kid: &str) -> String {
    format!("# {DEVELOPMENT_WARNING}\n# alg: {alg}\n# kid: {kid}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_pkcs8_parses_back_with_its_hints() {
        let der: Vec<u8> = (0..=200).collect();
        let text = render_pkcs8(&der, "ES256", "k1");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.material, KeyFileMaterial::Pkcs8(der));
        assert_eq!(parsed.alg.as_deref(), Some("ES256"));
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn rendered_pem_lines_are_at_most_64_characters() {
        let der = vec![7u8; 300];
        let text = render_pkcs8(&der, "RS256", "k");
        assert!(text
            .lines()
            .all(|line| line.len() <= 64 || line.starts_with('#')));
    }

    #[test]
    fn rendered_secret_parses_back() {
        let text = render_secret(b"0123456789abcdef0123456789abcdef", "HS256", "h");
        let parsed = parse(&text).unwrap();
        assert_eq!(
            parsed.material,
            KeyFileMaterial::Secret(b"0123456789abcdef0123456789abcdef".to_vec())
        );
        assert_eq!(parsed.alg.as_deref(), Some("HS256"));
    }

    #[test]
    fn padded_base64url_secret_is_accepted() {
        let parsed = parse("YWJjZA==\n").unwrap();
        assert_eq!(parsed.material, KeyFileMaterial::Secret(b"abcd".to_vec()));
    }

    #[test]
    fn pkcs1_rsa_block_is_recognised() {
        let parsed =
            parse("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----\n")
                .unwrap();
        assert_eq!(parsed.material, KeyFileMaterial::Pkcs1Rsa(vec![0, 1, 2]));
    }

    #[test]
    fn malformed_files_are_reported_by_reason() {
        let cases: &[(&str, KeyFileError)] = &[
            ("", KeyFileError::Empty),
            ("# only a comment\n", KeyFileError::Empty),
            (
                "-----BEGIN EC PRIVATE KEY-----\nAAEC\n-----END EC PRIVATE KEY-----\n",
                KeyFileError::UnsupportedPemLabel("EC PRIVATE KEY".into()),
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAEC\n",
                KeyFileError::UnterminatedPem,
            ),
            (
                "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                KeyFileError::PemBodyNotBase64,
            ),
            ("not base64url!\n", KeyFileError::SecretNotBase64Url),
            ("abc\ndef\n", KeyFileError::SecretNotBase64Url),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), *expected, "input {text:?}");
        }
    }
}
