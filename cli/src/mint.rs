//! Minting development tokens: build the JOSE header and claims, sign with a
//! [`SigningKey`], and serialise in JWS compact form (RFC 7515 §7.1).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use claimcheck::jwt::Algorithm;
use serde_json::{Map, Value};

use crate::signing::{SigningError, SigningKey};

/// Which `kid` the header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KidChoice {
    /// The key file's `# kid:` line, else the key's RFC 7638 thumbprint — the same default
    /// `claimcheck keys` uses, so generated pairs line up without flags.
    FromKey,
    Explicit(String),
    /// No `kid` at all, to exercise lookup by `alg`/`kty`.
    Omit,
}

/// Everything the token carries apart from the key.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSpec {
    pub alg: Option<Algorithm>,
    pub kid: KidChoice,
    pub typ: String,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub audiences: Vec<String>,
    /// Base claims from `--claims-json`.
    pub claims_json: Map<String, Value>,
    /// `--claim name=value` pairs, applied last, in order.
    pub claims: Vec<(String, Value)>,
    /// Issued-at, and the base for `exp`.
    pub now: u64,
    /// Lifetime in seconds; `None` mints a token without `exp`.
    pub ttl_s: Option<u64>,
    pub not_before: Option<u64>,
}

/// The key's own hints, read from its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHints {
    pub alg: Option<String>,
    pub kid: Option<String>,
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The key file's `# alg:` line names no algorithm we know.
    UnknownAlgorithmHint(String),
    /// `now + ttl` does not fit a NumericDate.
    ExpiryOutOfRange,
    Signing(SigningError),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::UnknownAlgorithmHint(alg) => {
                write!(
                    f,
                    "the key file names an unknown algorithm {alg:?}; pass --alg"
                )
            }
            TokenError::ExpiryOutOfRange => f.write_str("--now plus --ttl is out of range"),
            TokenError::Signing(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<SigningError> for TokenError {
    fn from(error: SigningError) -> Self {
        TokenError::Signing(error)
    }
}

/// Why a `--claim` or `--claims-json` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimArgError {
    /// `--claim` without `=`, or with an empty name.
    NotNameValue(String),
    /// `--claims-json` that is not a JSON object.
    NotAnObject,
}

impl fmt::Display for ClaimArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimArgError::NotNameValue(text) => {
                write!(f, "{text:?} is not NAME=VALUE (e.g. groups='[\"admin\"]')")
            }
            ClaimArgError::NotAnObject => f.write_str("--claims-json must be a JSON object"),
        }
    }
}

impl std::error::Error for ClaimArgError {}

/// Parses `name=value`. The value is JSON when it parses as JSON (`true`, `3`,
/// `["a","b"]`, `"quoted"`), and a plain string otherwise (`alice`, `007`).
pub fn parse_claim(text: &str) -> Result<(String, Value), ClaimArgError> {
    let (name, raw) = text
        .split_once('=')
        .ok_or_else(|| ClaimArgError::NotNameValue(text.to_owned()))?;
    if name.is_empty() {
        return Err(ClaimArgError::NotNameValue(text.to_owned()));
    }
    let value =
        serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((name.to_owned(), value))
}

/// Parses `--claims-json`.
pub fn parse_claims_json(text: &str) -> Result<Map<String, Value>, ClaimArgError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ClaimArgError::NotAnObject),
    }
}

/// The algorithm a token will use: `--alg`, else the key file's hint, else the key's
/// natural default.
pub fn choose_algorithm(
    spec_alg: Option<Algorithm>,
    hints: &KeyHints,
    key: &SigningKey,
) -> Result<Algorithm, TokenError> {
    if let Some(alg) = spec_alg {
        return Ok(alg);
    }
    match &hints.alg {
        Some(name) => {
            Algorithm::from_name(name).ok_or_else(|| TokenError::UnknownAlgorithmHint(name.clone()))
        }
        None => Ok(key.default_algorithm()),
    }
}

/// The claims set, built in increasing precedence: computed times (`iat`, `nbf`, `exp`),
/// then `--claims-json`, then `--iss`/`--sub`/`--aud`, then each `--claim`.
pub fn build_claims(spec: &TokenSpec) -> Result<Map<String, Value>, TokenError> {
    let mut claims = Map::new();
    claims.insert("iat".into(), spec.now.into());
    if let Some(nbf) = spec.not_before {
        claims.insert("nbf".into(), nbf.into());
    }
    if let Some(ttl) = spec.ttl_s {
        let exp = spec
            .now
            .checked_add(ttl)
            .ok_or(TokenError::ExpiryOutOfRange)?;
        claims.insert("exp".into(), exp.into());
    }
    for (name, value) in &spec.claims_json {
        claims.insert(name.clone(), value.clone());
    }
    if let Some(issuer) = &spec.issuer {
        claims.insert("iss".into(), issuer.as_str().into());
    }
    if let Some(subject) = &spec.subject {
        claims.insert("sub".into(), subject.as_str().into());
    }
    // RFC 7519 §4.1.3: a single audience may be a plain string.
    match spec.audiences.as_slice() {
        [] => {}
        [single] => {
            claims.insert("aud".into(), single.as_str().into());
        }
        many => {
            claims.insert("aud".into(), many.to_vec().into());
        }
    }
    for (name, value) in &spec.claims {
        claims.insert(name.clone(), value.clone());
    }
    Ok(claims)
}

/// Signs and serialises a token. Returns the compact JWS.
pub fn mint(key: &SigningKey, hints: &KeyHints, spec: &TokenSpec) -> Result<String, TokenError> {
    let alg = choose_algorithm(spec.alg, hints, key)?;
    key.check_algorithm(alg)?;
    let mut header = Map::new();
    header.insert("alg".into(), alg.as_str().into());
    header.insert("typ".into(), spec.typ.as_str().into());
    let kid = match &spec.kid {
        KidChoice::Explicit(kid) => Some(kid.clone()),
        KidChoice::FromKey => Some(hints.kid.clone().unwrap_or_else(|| key.thumbprint())),
        KidChoice::Omit => None,
    };
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    let claims = build_claims(spec)?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let signature = key.sign(alg, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> TokenSpec {
        TokenSpec {
            alg: None,
            kid: KidChoice::FromKey,
            typ: "JWT".into(),
            issuer: None,
            subject: None,
            audiences: vec![],
            claims_json: Map::new(),
            claims: vec![],
            now: 1000,
            ttl_s: Some(3600),
            not_before: None,
        }
    }

    fn decode_part(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn claim_values_are_json_when_they_parse_as_json() {
        let cases = [
            ("admin=true", json!(true)),
            ("tier=3", json!(3)),
            ("groups=[\"a\",\"b\"]", json!(["a", "b"])),
            ("name=\"quoted\"", json!("quoted")),
            ("name=alice", json!("alice")),
            ("code=007", json!("007")),
            ("empty=", json!("")),
            ("eq=a=b", json!("a=b")),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_claim(text).unwrap().1, expected, "{text}");
        }
    }

    #[test]
    fn claim_without_a_name_is_refused() {
        for text in ["novalue", "=3"] {
            assert_eq!(
                parse_claim(text),
                Err(ClaimArgError::NotNameValue(text.into()))
            );
        }
    }

    #[test]
    fn claims_json_must_be_an_object() {
        assert_eq!(parse_claims_json("[1]"), Err(ClaimArgError::NotAnObject));
        assert_eq!(parse_claims_json("{"), Err(ClaimArgError::NotAnObject));
        assert_eq!(parse_claims_json("{\"a\":1}").unwrap()["a"], json!(1));
    }

    #[test]
    fn expiry_is_now_plus_ttl_and_can_be_omitted() {
        let claims = build_claims(&spec()).unwrap();
        assert_eq!(claims["iat"], json!(1000));
        assert_eq!(claims["exp"], json!(4600));
        let no_exp = build_claims(&TokenSpec {
            ttl_s: None,
            ..spec()
        })
        .unwrap();
        assert!(!no_exp.contains_key("exp"));
    }

    #[test]
    fn one_audience_is_a_string_and_several_are_an_array() {
        let one = build_claims(&TokenSpec {
            audiences: vec!["a".into()],
            ..spec()
        })
        .unwrap();
        assert_eq!(one["aud"], json!("a"));
        let two = build_claims(&TokenSpec {
            audiences: vec!["a".into(), "b".into()],
            ..spec()
        })
        .unwrap();
        assert_eq!(two["aud"], json!(["a", "b"]));
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let claims = build_claims(&TokenSpec {
            issuer: Some("flag".into()),
            claims_json: parse_claims_json(r#"{"iss":"json","exp":5,"sub":"json"}"#).unwrap(),
            claims: vec![("sub".into(), json!("claim"))],
            ..spec()
        })
        .unwrap();
        assert_eq!(claims["iss"], json!("flag"));
        assert_eq!(claims["exp"], json!(5));
        assert_eq!(claims["sub"], json!("claim"));
    }

    #[test]
    fn minted_hs256_token_carries_the_header_and_verifies() {
        let key = SigningKey::Hmac(vec![7; 32]);
        let token = mint(&key, &KeyHints::default(), &spec()).unwrap();
        let header = decode_part(&token, 0);
        assert_eq!(header["alg"], json!("HS256"));
        assert_eq!(header["typ"], json!("JWT"));
        assert_eq!(header["kid"], json!(key.thumbprint()));
        let (input, signature) = token.rsplit_once('.').unwrap();
        let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
        ring::hmac::verify(
            &hmac,
            input.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn kid_comes_from_the_flag_then_the_key_file_and_can_be_omitted() {
        let key = SigningKey::Hmac(vec![7; 32]);
        let hints = KeyHints {
            alg: None,
            kid: Some("from-file".into()),
        };
        let from_file = mint(&key, &hints, &spec()).unwrap();
        assert_eq!(decode_part(&from_file, 0)["kid"], json!("from-file"));
        let explicit = TokenSpec {
            kid: KidChoice::Explicit("flag".into()),
            ..spec()
        };
        assert_eq!(
            decode_part(&mint(&key, &hints, &explicit).unwrap(), 0)["kid"],
            json!("flag")
        );
        let omitted = TokenSpec {
            kid: KidChoice::Omit,
            ..spec()
        };
        assert!(decode_part(&mint(&key, &hints, &omitted).unwrap(), 0)
            .get("kid")
            .is_none());
    }

    #[test]
    fn algorithm_hint_from_the_key_file_is_used_and_checked() {
        let key = SigningKey::Hmac(vec![7; 64]);
        let hints = KeyHints {
            alg: Some("HS512".into()),
            kid: None,
        };
        let token = mint(&key, &hints, &spec()).unwrap();
        assert_eq!(decode_part(&token, 0)["alg"], json!("HS512"));
        let unknown = KeyHints {
            alg: Some("none".into()),
            kid: None,
        };
        assert_eq!(
            mint(&key, &unknown, &spec()),
            Err(TokenError::UnknownAlgorithmHint("none".into()))
        );
    }
}
