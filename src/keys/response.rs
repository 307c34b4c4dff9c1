//! What a call's answer means for the fetch: classified from its head first (so an oversized
//! or failed answer is never read), then from its body.

use super::FetchFailure;
use crate::config::Step;
use crate::jwks;

/// The body Envoy's router sends with the 504 it answers a call timeout with
/// (`source/common/router/router.cc`, `onUpstreamTimeout`). A 504 from the IdP's own gateway
/// carries another body and is a plain `http_status` failure.
pub const ROUTER_TIMEOUT_BODY: &[u8] = b"upstream request timeout";

/// What to do with a response, from its headers and body size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A 200 within the step's size bound: read the body.
    ReadBody,
    /// A 504 whose body may be the router's own timeout answer: read it to tell.
    ReadTimeoutBody,
    Failed(FetchFailure),
}

/// Classifies a response head. Envoy reports a reset as a response without headers.
pub fn classify_head(step: &Step, headers: &[(String, String)], body_size: usize) -> Head {
    if headers.is_empty() {
        return Head::Failed(FetchFailure::Reset);
    }
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .map(|(_, value)| value.as_str());
    match status {
        Some("200") if body_size > step.max_body_bytes() => Head::Failed(FetchFailure::TooLarge),
        Some("200") => Head::ReadBody,
        Some("504") if body_size == ROUTER_TIMEOUT_BODY.len() => Head::ReadTimeoutBody,
        _ => Head::Failed(FetchFailure::HttpStatus),
    }
}

/// The failure a 504 stands for, from its body.
pub fn classify_timeout_body(body: &[u8]) -> FetchFailure {
    if body == ROUTER_TIMEOUT_BODY {
        FetchFailure::Timeout
    } else {
        FetchFailure::HttpStatus
    }
}

/// The JWKS call a discovery document names. The document must name the configured
/// issuer (OIDC Discovery §4.3).
pub fn follow_discovery(body: &[u8], issuer: &str) -> Result<Step, DiscoveryFailure> {
    let discovery = jwks::parse_discovery(body, issuer).map_err(DiscoveryFailure::Document)?;
    let url = jwks::split_url(&discovery.jwks_uri).map_err(DiscoveryFailure::JwksUri)?;
    Ok(Step::Jwks {
        authority: url.authority,
        path: url.path,
    })
}

/// Why a discovery document led nowhere (for the log; the metric says `bad_discovery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryFailure {
    Document(jwks::DiscoveryError),
    JwksUri(jwks::UrlError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks_step() -> Step {
        Step::Jwks {
            authority: "idp".into(),
            path: "/jwks".into(),
        }
    }

    fn status(code: &str) -> Vec<(String, String)> {
        vec![(":status".to_owned(), code.to_owned())]
    }

    #[test]
    fn heads_classify_by_status_and_size() {
        let step = jwks_step();
        let cases = [
            (vec![], 10, Head::Failed(FetchFailure::Reset)),
            (status("200"), 10, Head::ReadBody),
            (status("200"), jwks::MAX_JWKS_BYTES, Head::ReadBody),
            (
                status("200"),
                jwks::MAX_JWKS_BYTES + 1,
                Head::Failed(FetchFailure::TooLarge),
            ),
            (status("503"), 10, Head::Failed(FetchFailure::HttpStatus)),
            (
                status("504"),
                ROUTER_TIMEOUT_BODY.len(),
                Head::ReadTimeoutBody,
            ),
            (status("504"), 3, Head::Failed(FetchFailure::HttpStatus)),
        ];
        for (headers, size, want) in cases {
            assert_eq!(
                classify_head(&step, &headers, size),
                want,
                "{headers:?} {size}"
            );
        }
    }

    #[test]
    fn a_discovery_document_is_bounded_more_tightly_than_a_jwks() {
        let step = Step::Discovery {
            authority: "idp".into(),
            path: "/.well-known/openid-configuration".into(),
            issuer: "https://idp".into(),
        };
        assert_eq!(
            classify_head(&step, &status("200"), jwks::MAX_DISCOVERY_BYTES + 1),
            Head::Failed(FetchFailure::TooLarge)
        );
    }

    #[test]
    fn only_the_routers_own_504_body_is_a_timeout() {
        assert_eq!(
            classify_timeout_body(ROUTER_TIMEOUT_BODY),
            FetchFailure::Timeout
        );
        assert_eq!(
            classify_timeout_body(b"gateway timed out!!!!!!!"),
            FetchFailure::HttpStatus
        );
    }

    #[test]
    fn discovery_leads_to_the_jwks_uri_of_the_configured_issuer_only() {
        let body =
            br#"{"issuer":"https://idp.example","jwks_uri":"https://keys.example/v1/jwks?x=1"}"#;
        assert_eq!(
            follow_discovery(body, "https://idp.example"),
            Ok(Step::Jwks {
                authority: "keys.example".into(),
                path: "/v1/jwks?x=1".into(),
            })
        );
        assert!(follow_discovery(body, "https://other.example").is_err());
        let bad_uri = br#"{"issuer":"https://idp.example","jwks_uri":"ftp://keys.example/"}"#;
        assert!(follow_discovery(bad_uri, "https://idp.example").is_err());
    }
}
