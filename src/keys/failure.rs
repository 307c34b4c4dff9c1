//! Why a fetch failed: one enum, one code per variant.

use serde::{Deserialize, Serialize};

/// Why a fetch failed. Stable codes: they are metric labels and log fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchFailure {
    /// The host refused to dispatch the call (unknown cluster, bad URI).
    DispatchFailed,
    /// No response within the timeout (Envoy's router answered with its own 504).
    Timeout,
    /// The connection was reset or refused: the call ended without a response.
    Reset,
    /// A response other than 200.
    HttpStatus,
    /// The body exceeded the configured maximum size.
    TooLarge,
    /// The discovery document did not parse, or named another issuer.
    BadDiscovery,
    /// The JWKS did not parse or held no usable key.
    BadJwks,
    /// The revocation list did not parse (a defect refuses the whole list).
    BadRevocationList,
}

impl FetchFailure {
    pub fn code(self) -> &'static str {
        match self {
            FetchFailure::DispatchFailed => "dispatch_failed",
            FetchFailure::Timeout => "timeout",
            FetchFailure::Reset => "reset",
            FetchFailure::HttpStatus => "http_status",
            FetchFailure::TooLarge => "too_large",
            FetchFailure::BadDiscovery => "bad_discovery",
            FetchFailure::BadJwks => "bad_jwks",
            FetchFailure::BadRevocationList => "bad_revocation_list",
        }
    }
}
