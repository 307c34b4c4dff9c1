//! OpenID Connect discovery documents and the URL split `dispatch_http_call` needs.

use std::fmt;

use serde_json::Value;

/// Largest discovery document we parse, in bytes. Real ones are 1-5 KiB (Google, Entra,
/// Keycloak); 64 KiB bounds a misbehaving endpoint.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// Longest URL we accept for `jwks_uri`. 2048 is the de-facto interoperable URL length
/// (RFC 9110 §4.1 recommends supporting at least 8000 octets; keys URLs are far shorter).
pub const MAX_URL_LEN: usize = 2048;

/// The members of a discovery document claimcheck uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Larger than [`MAX_DISCOVERY_BYTES`].
    TooLarge,
    /// Not a JSON object.
    NotJsonObject,
    /// `issuer` missing or not a string.
    MissingIssuer,
    /// `issuer` differs from the configured issuer. OIDC Discovery §4.3: it MUST be identical,
    /// which stops one provider's document from redirecting another's key lookups.
    IssuerMismatch,
    /// `jwks_uri` missing or not a string.
    MissingJwksUri,
    /// `jwks_uri` is not an absolute http(s) URL.
    InvalidJwksUri(UrlError),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::TooLarge => {
                write!(
                    f,
                    "discovery document larger than {MAX_DISCOVERY_BYTES} bytes"
                )
            }
            DiscoveryError::NotJsonObject => f.write_str("discovery document is not a JSON object"),
            DiscoveryError::MissingIssuer => f.write_str("discovery document has no issuer"),
            DiscoveryError::IssuerMismatch => {
                f.write_str("discovery issuer differs from the configured issuer")
            }
            DiscoveryError::MissingJwksUri => f.write_str("discovery document has no jwks_uri"),
            DiscoveryError::InvalidJwksUri(err) => write!(f, "discovery jwks_uri: {err}"),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// Parses an OIDC discovery document (OpenID Connect Discovery 1.0 §3) and checks it belongs
/// to `expected_issuer`.
pub fn parse_discovery(json: &[u8], expected_issuer: &str) -> Result<Discovery, DiscoveryError> {
    if json.len() > MAX_DISCOVERY_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let document: Value =
        serde_json::from_slice(json).map_err(|_| DiscoveryError::NotJsonObject)?;
    let object = document.as_object().ok_or(DiscoveryError::NotJsonObject)?;
    let issuer = object
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::MissingIssuer)?;
    if issuer != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    let jwks_uri = object
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::MissingJwksUri)?;
    split_url(jwks_uri).map_err(DiscoveryError::InvalidJwksUri)?;
    Ok(Discovery {
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri.to_owned(),
    })
}

/// An absolute URL split into what an HTTP callout needs (`:authority` and `:path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `https` or `http`, lowercase.
    pub scheme: String,
    /// `host[:port]`, as written.
    pub authority: String,
    /// Path and query, starting with `/`; `/` when the URL has none. The fragment is dropped
    /// (RFC 9110 §4.2.4: it is never sent).
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    TooLong,
    /// Not `https://` or `http://`.
    UnsupportedScheme,
    /// Nothing between `//` and the path.
    MissingAuthority,
    /// `user:pass@host`: credentials do not belong in a configured URL (RFC 9110 §4.2.4).
    UserInfo,
    /// Whitespace, control characters or non-ASCII.
    InvalidCharacter,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::TooLong => write!(f, "URL longer than {MAX_URL_LEN} bytes"),
            UrlError::UnsupportedScheme => f.write_str("URL must start with https:// or http://"),
            UrlError::MissingAuthority => f.write_str("URL has no host"),
            UrlError::UserInfo => f.write_str("URL must not contain user information"),
            UrlError::InvalidCharacter => f.write_str("URL contains an invalid character"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Splits an absolute http(s) URL into scheme, authority and path-with-query (RFC 3986 §3).
pub fn split_url(url: &str) -> Result<UrlParts, UrlError> {
    if url.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UrlError::InvalidCharacter);
    }
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::UnsupportedScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(UrlError::UnsupportedScheme);
    }
    let rest = rest.split('#').next().unwrap_or("");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at_checked(authority_end).unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(UrlError::MissingAuthority);
    }
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(UrlParts {
        scheme,
        authority: authority.to_owned(),
        path,
    })
}
