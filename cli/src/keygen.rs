//! `claimcheck keys`: development key pairs. Writes the private key (PKCS#8 PEM, or a
//! base64url secret for HS*) and a `jwks.json` holding the public JWK, both marked as
//! development-only.
//!
//! ring generates EC and Ed25519 keys but not RSA ones; RSA keys come from the RustCrypto
//! `rsa` crate and are then loaded back through ring, so every generated file is proven
//! usable by the signer before it is written.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use claimcheck::jwt::{Algorithm, KeyFamily};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};

use crate::keyfile::{self, KeyFileMaterial};
use crate::signing::{hmac_min_bytes, SigningError, SigningKey};

/// RSA modulus sizes offered. 2048 is the floor claimcheck (and RFC 7518 §3.3) accepts;
/// ring signs up to 8192 bits, but beyond 4096 generation gets slow for no test benefit.
pub const RSA_BITS_CHOICES: [usize; 3] = [2048, 3072, 4096];

/// File name of the private key for asymmetric algorithms.
pub const PRIVATE_KEY_FILE: &str = "private-key.pem";
/// File name of the shared secret for HS* algorithms.
pub const SECRET_FILE: &str = "secret.key";
/// File name of the key set.
pub const JWKS_FILE: &str = "jwks.json";

/// A freshly generated key, ready to write.
pub struct GeneratedKey {
    pub alg: Algorithm,
    pub kid: String,
    /// Contents of the private key (or secret) file.
    pub private_text: String,
    /// `{"keys": [jwk]}`.
    pub jwks: serde_json::Value,
}

/// The files a generation wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenKey {
    pub private_path: PathBuf,
    pub jwks_path: PathBuf,
}

/// Why a key could not be generated or written.
#[derive(Debug)]
pub enum KeyGenError {
    /// An algorithm this generator does not produce keys for.
    UnsupportedAlgorithm(Algorithm),
    /// `--bits` outside [`RSA_BITS_CHOICES`].
    UnsupportedRsaBits(usize),
    /// The operating system's random source failed.
    Random,
    /// The generated key could not be encoded or loaded back.
    Encoding,
    Signing(SigningError),
    /// A target file exists and `--force` was not given.
    Exists(PathBuf),
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for KeyGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyGenError::UnsupportedAlgorithm(alg) => {
                write!(
                    f,
                    "cannot generate {alg} keys (supported: RS*, PS*, ES256, ES384, EdDSA, HS*)"
                )
            }
            KeyGenError::UnsupportedRsaBits(bits) => {
                write!(
                    f,
                    "RSA key size {bits} not offered (use 2048, 3072 or 4096)"
                )
            }
            KeyGenError::Random => f.write_str("the system random source failed"),
            KeyGenError::Encoding => f.write_str("the generated key could not be encoded"),
            KeyGenError::Signing(error) => error.fmt(f),
            KeyGenError::Exists(path) => {
                write!(
                    f,
                    "{} already exists (pass --force to overwrite)",
                    path.display()
                )
            }
            KeyGenError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for KeyGenError {}

/// Generates a key for `alg`. `kid` defaults to the key's RFC 7638 thumbprint.
pub fn generate(
    alg: Algorithm,
    kid: Option<String>,
    rsa_bits: usize,
) -> Result<GeneratedKey, KeyGenError> {
    let rng = SystemRandom::new();
    let (key, private) = match alg.key_family() {
        KeyFamily::Hmac => {
            let mut secret = vec![0u8; hmac_min_bytes(alg)];
            rng.fill(&mut secret).map_err(|_| KeyGenError::Random)?;
            (
                SigningKey::Hmac(secret.clone()),
                KeyFileMaterial::Secret(secret),
            )
        }
        family => {
            let pkcs8 = generate_pkcs8(alg, family, rsa_bits, &rng)?;
            let key = SigningKey::from_pkcs8(&pkcs8).map_err(KeyGenError::Signing)?;
            (key, KeyFileMaterial::Pkcs8(pkcs8))
        }
    };
    key.check_algorithm(alg).map_err(KeyGenError::Signing)?;
    let kid = kid.unwrap_or_else(|| key.thumbprint());
    Ok(GeneratedKey {
        alg,
        private_text: match &private {
            KeyFileMaterial::Secret(secret) => keyfile::render_secret(secret, alg.as_str(), &kid),
            KeyFileMaterial::Pkcs8(der) | KeyFileMaterial::Pkcs1Rsa(der) => {
                keyfile::render_pkcs8(der, alg.as_str(), &kid)
            }
        },
        jwks: serde_json::json!({ "keys": [key.jwk(&kid, alg)] }),
        kid,
    })
}

fn generate_pkcs8(
    alg: Algorithm,
    family: KeyFamily,
    rsa_bits: usize,
    rng: &SystemRandom,
) -> Result<Vec<u8>, KeyGenError> {
    match family {
        KeyFamily::EcP256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyGenError::Random),
        KeyFamily::EcP384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyGenError::Random),
        KeyFamily::Ed25519 => Ed25519KeyPair::generate_pkcs8(rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| KeyGenError::Random),
        KeyFamily::Rsa => {
            use rsa::pkcs8::EncodePrivateKey as _;
            if !RSA_BITS_CHOICES.contains(&rsa_bits) {
                return Err(KeyGenError::UnsupportedRsaBits(rsa_bits));
            }
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, rsa_bits)
                .map_err(|_| KeyGenError::Random)?;
            key.to_pkcs8_der()
                .map(|doc| doc.as_bytes().to_vec())
                .map_err(|_| KeyGenError::Encoding)
        }
        KeyFamily::EcP521 => {
            use p521::elliptic_curve::rand_core::OsRng;
            use p521::pkcs8::EncodePrivateKey as _;
            p521::SecretKey::random(&mut OsRng)
                .to_pkcs8_der()
                .map(|doc| doc.as_bytes().to_vec())
                .map_err(|_| KeyGenError::Encoding)
        }
        KeyFamily::Hmac => Err(KeyGenError::UnsupportedAlgorithm(alg)),
    }
}

/// Writes the key files into `out_dir` (created if missing). Existing files are kept
/// unless `force`; the private file is readable by its owner only, and so is `jwks.json`
/// for HS*, where it holds the shared secret itself (`k`).
pub fn write(out_dir: &Path, key: &GeneratedKey, force: bool) -> Result<WrittenKey, KeyGenError> {
    std::fs::create_dir_all(out_dir).map_err(|error| KeyGenError::Io {
        path: out_dir.to_path_buf(),
        error,
    })?;
    let private_name = if key.alg.is_symmetric() {
        SECRET_FILE
    } else {
        PRIVATE_KEY_FILE
    };
    let private_path = out_dir.join(private_name);
    let jwks_path = out_dir.join(JWKS_FILE);
    if !force {
        for path in [&private_path, &jwks_path] {
            if path.exists() {
                return Err(KeyGenError::Exists(path.clone()));
            }
        }
    }
    let mut jwks_text =
        serde_json::to_string_pretty(&key.jwks).map_err(|_| KeyGenError::Encoding)?;
    jwks_text.push('\n');
    write_file(&private_path, key.private_text.as_bytes(), true)?;
    write_file(&jwks_path, jwks_text.as_bytes(), key.alg.is_symmetric())?;
    Ok(WrittenKey {
        private_path,
        jwks_path,
    })
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), KeyGenError> {
    let io_error = |error| KeyGenError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(contents).map_err(io_error)?;
    // A pre-existing file keeps its old mode on open: tighten it explicitly.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reload(key: &GeneratedKey) -> SigningKey {
        let parsed = keyfile::parse(&key.private_text).unwrap();
        SigningKey::from_material(&parsed.material).unwrap()
    }

    #[test]
    fn generated_keys_reload_and_publish_their_public_jwk() {
        let cases = [
            (Algorithm::ES256, "EC", Some("P-256")),
            (Algorithm::ES384, "EC", Some("P-384")),
            (Algorithm::ES512, "EC", Some("P-521")),
            (Algorithm::EdDSA, "OKP", Some("Ed25519")),
            (Algorithm::HS256, "oct", None),
        ];
        for (alg, kty, crv) in cases {
            let key = generate(alg, None, 2048).unwrap();
            let jwk = &key.jwks["keys"][0];
            assert_eq!(jwk["kty"], kty, "{alg}");
            assert_eq!(jwk.get("crv").and_then(|c| c.as_str()), crv, "{alg}");
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], key.kid.as_str());
            assert!(jwk.get("d").is_none(), "{alg}: private member published");
            let reloaded = reload(&key);
            assert_eq!(
                reloaded.thumbprint(),
                key.kid,
                "{alg}: default kid is the thumbprint"
            );
        }
    }

    #[test]
    fn rsa_key_is_pkcs8_and_signs_with_pss_too() {
        let key = generate(Algorithm::PS256, Some("r1".into()), 2048).unwrap();
        let parsed = keyfile::parse(&key.private_text).unwrap();
        assert!(matches!(parsed.material, KeyFileMaterial::Pkcs8(_)));
        assert_eq!(parsed.kid.as_deref(), Some("r1"));
        assert_eq!(parsed.alg.as_deref(), Some("PS256"));
        let jwk = &key.jwks["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let signer = reload(&key);
        assert_eq!(signer.sign(Algorithm::PS256, b"m").unwrap().len(), 256);
    }

    #[test]
    fn es512_key_is_p521_and_signs_fixed_width() {
        let key = generate(Algorithm::ES512, None, 2048).unwrap();
        let jwk = &key.jwks["keys"][0];
        assert_eq!(jwk["crv"], "P-521");
        let x = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk["x"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(x.len(), 66);
        let signer = reload(&key);
        assert_eq!(signer.sign(Algorithm::ES512, b"m").unwrap().len(), 132);
        assert_eq!(signer.thumbprint(), key.kid);
    }

    #[test]
    fn odd_rsa_size_is_refused() {
        assert!(matches!(
            generate(Algorithm::RS256, None, 1024),
            Err(KeyGenError::UnsupportedRsaBits(1024))
        ));
    }

    #[test]
    fn hmac_secret_is_as_long_as_the_hash() {
        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let key = generate(alg, None, 2048).unwrap();
            let parsed = keyfile::parse(&key.private_text).unwrap();
            let KeyFileMaterial::Secret(secret) = parsed.material else {
                panic!("{alg}: not a secret")
            };
            assert_eq!(secret.len(), len);
        }
    }

    #[test]
    fn existing_files_are_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate(Algorithm::EdDSA, None, 2048).unwrap();
        write(dir.path(), &key, false).unwrap();
        let again = generate(Algorithm::EdDSA, None, 2048).unwrap();
        assert!(matches!(
            write(dir.path(), &again, false),
            Err(KeyGenError::Exists(path)) if path.ends_with(PRIVATE_KEY_FILE)
        ));
        write(dir.path(), &again, true).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn an_hmac_jwks_holding_the_secret_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = generate(Algorithm::HS256, None, 2048).unwrap();
        let written = write(dir.path(), &key, false).unwrap();
        for path in [&written.private_path, &written.jwks_path] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_hmac_jwks_rewritten_with_force_is_tightened() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join(JWKS_FILE);
        std::fs::write(&jwks, "{}").unwrap();
        std::fs::set_permissions(&jwks, std::fs::Permissions::from_mode(0o644)).unwrap();
        let key = generate(Algorithm::HS384, None, 2048).unwrap();
        write(dir.path(), &key, true).unwrap();
        let mode = std::fs::metadata(&jwks).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn private_key_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = generate(Algorithm::ES256, None, 2048).unwrap();
        let written = write(dir.path(), &key, false).unwrap();
        let mode = std::fs::metadata(&written.private_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
