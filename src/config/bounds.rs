//! What the loader enforces and assumes, in one table each, so the JSON Schema says the same:
//! numeric ranges and defaults ([`NUMERIC`]), other defaults ([`DEFAULTS`]) and size limits
//! ([`LIMITS`]). The values are the loader's own constants (`compile.rs`); the schema is
//! generated from the serde types and then given these, and a test checks that values just
//! inside and outside every bound load or fail in the loader exactly as the schema says.

use super::compile::{
    CLOCK_SKEW_S, COLD_START_MAX_WAIT_MS, DPOP_CLOCK_SKEW_S, DPOP_MAX_AGE_S, DPOP_NONCE_LIFETIME_S,
    DPOP_REPLAY_SLOTS, INTROSPECTION_FAILURE_TTL_MS, INTROSPECTION_MAX_TTL_S,
    INTROSPECTION_NEGATIVE_TTL_S, INTROSPECTION_SLOTS, INTROSPECTION_TIMEOUT_MS,
    MAX_CLAIMS_TO_HEADERS, MAX_LIFETIME_S, MAX_LIST, MAX_PROVIDERS, MAX_PROVIDER_ID_LEN,
    MAX_REALM_LEN, MAX_RULES, MAX_SOURCES, MAX_STALE_S, MAX_TOKEN_AGE_S, MAX_TOKEN_BYTES,
    REFRESH_INTERVAL_S, REFRESH_MIN_INTERVAL_S, RETRY_INITIAL_MS, RETRY_MAX_MS,
    REVOCATION_INTERVAL_S, REVOCATION_MAX_BYTES, REVOCATION_MAX_STALE_S, REVOCATION_MIN_INTERVAL_S,
    TIMEOUT_MS, TOKEN_CACHE_ENTRIES, UNKNOWN_KID_MIN_INTERVAL_S,
};
use super::compile::{DEFAULT_JOIN, DEFAULT_REALM};
pub use super::compile::{DEFAULT_SOURCE_HEADER, DEFAULT_SOURCE_PREFIX};

/// An integer field the loader bounds.
#[derive(Debug, Clone, Copy)]
pub struct Numeric {
    /// The schema definition (the serde type's name) and the field.
    pub definition: &'static str,
    pub field: &'static str,
    /// `(default, min, max)` as `compile` applies them.
    pub range: (u64, u64, u64),
    /// Whether the default applies when the field is absent (`max_lifetime_s` has none).
    pub has_default: bool,
    pub description: &'static str,
}

const fn numeric(
    definition: &'static str,
    field: &'static str,
    range: (u64, u64, u64),
    description: &'static str,
) -> Numeric {
    Numeric {
        definition,
        field,
        range,
        has_default: true,
        description,
    }
}

/// Every integer setting with its range, default and meaning.
pub const NUMERIC: [Numeric; 28] = [
    numeric("Remote", "timeout_ms", TIMEOUT_MS, "How long one JWKS request may take, in milliseconds."),
    numeric("Discovery", "timeout_ms", TIMEOUT_MS, "How long one discovery or JWKS request may take, in milliseconds."),
    numeric("Refresh", "interval_s", REFRESH_INTERVAL_S, "Seconds between refreshes of the keys (up to 10% less, at random, so proxies do not refresh in lockstep)."),
    numeric("Refresh", "min_interval_s", REFRESH_MIN_INTERVAL_S, "The shortest refresh interval, in seconds, that the IdP's `Cache-Control: max-age` or `Expires` on the JWKS and discovery responses may set; a longer stated lifetime is followed up to half of `max_stale_s`. Counts as `interval_s` when larger."),
    numeric("Refresh", "max_stale_s", MAX_STALE_S, "How long, in seconds, the last good keys keep serving while refreshes fail; at least `interval_s`."),
    numeric("Refresh", "retry_initial_ms", RETRY_INITIAL_MS, "First retry delay after a failed fetch, in milliseconds; doubles up to `retry_max_ms`."),
    numeric("Refresh", "retry_max_ms", RETRY_MAX_MS, "Longest retry delay after failed fetches, in milliseconds; at least `retry_initial_ms`."),
    numeric("Refresh", "unknown_kid_min_interval_s", UNKNOWN_KID_MIN_INTERVAL_S, "Least time, in seconds, between two refetches an unknown `kid` triggers (per Envoy process)."),
    numeric("Revocation", "timeout_ms", TIMEOUT_MS, "How long one revocation list request may take, in milliseconds."),
    numeric("Revocation", "interval_s", REVOCATION_INTERVAL_S, "Seconds between refreshes of the revocation list (up to 10% less, at random): with one tick, the bound on how late a revocation takes effect. A stated `Cache-Control: max-age` may shorten it, never lengthen it."),
    numeric("Revocation", "min_interval_s", REVOCATION_MIN_INTERVAL_S, "The shortest refresh interval, in seconds, that the list's `Cache-Control: max-age` or `Expires` may set. Counts as `interval_s` when larger."),
    numeric("Revocation", "max_stale_s", REVOCATION_MAX_STALE_S, "How long, in seconds, the last good list keeps serving while refreshes fail; past it every token of the provider is refused (503 `revocation_list_unavailable`). At least `interval_s`."),
    numeric("Revocation", "max_bytes", REVOCATION_MAX_BYTES, "The largest list document accepted, in bytes; a larger one is a failed fetch (`too_large`) and the last good list stays."),
    numeric("Dpop", "max_age_s", DPOP_MAX_AGE_S, "How old a DPoP proof's `iat` may be, in seconds (`dpop_iat_out_of_window` beyond)."),
    numeric("Dpop", "clock_skew_s", DPOP_CLOCK_SKEW_S, "Leeway for a DPoP proof's `iat`, in seconds, both ways."),
    numeric("Dpop", "replay_slots", DPOP_REPLAY_SLOTS, "Slots of the cross-worker DPoP replay cache; each holds 8 live proofs, and a proof landing in a full slot is refused (`dpop_replay_unavailable`)."),
    numeric("DpopNonce", "lifetime_s", DPOP_NONCE_LIFETIME_S, "The length of a DPoP nonce window, in seconds: a nonce is accepted in the window it was minted in and the next one, so it lives one to two of them (`dpop_nonce_expired` after)."),
    numeric("Introspection", "timeout_ms", INTROSPECTION_TIMEOUT_MS, "How long one introspection call may take, in milliseconds; requests wait for it that long plus a second at most."),
    numeric("Introspection", "max_ttl_s", INTROSPECTION_MAX_TTL_S, "How long an active answer is used, in seconds (never past the answer's `exp`): how late a revocation at the server takes effect."),
    numeric("Introspection", "negative_ttl_s", INTROSPECTION_NEGATIVE_TTL_S, "How long `active: false` is remembered, in seconds (`token_inactive` meanwhile, without a call)."),
    numeric("Introspection", "failure_ttl_ms", INTROSPECTION_FAILURE_TTL_MS, "How long a failed call is remembered, in milliseconds: requests meanwhile get the outage behaviour without a call."),
    numeric("Introspection", "slots", INTROSPECTION_SLOTS, "Slots of the answer cache shared by every worker (one token each, the newest evicting another's answer)."),
    numeric("ColdStart", "max_wait_ms", COLD_START_MAX_WAIT_MS, "How long a request waits for the provider's first keys, in milliseconds; 0 refuses at once (`keys_unavailable`)."),
    numeric("Provider", "clock_skew_s", CLOCK_SKEW_S, "Leeway for `exp`, `nbf` and `iat`, in seconds."),
    Numeric {
        definition: "Provider",
        field: "max_lifetime_s",
        range: MAX_LIFETIME_S,
        has_default: false,
        description: "Refuse tokens whose `exp - iat` is longer, in seconds (then `iat` is required). No limit when absent.",
    },
    Numeric {
        definition: "Require",
        field: "max_token_age_s",
        range: MAX_TOKEN_AGE_S,
        has_default: false,
        description: "Refuse tokens issued longer ago than this, in seconds (`token_too_old`; with the provider's clock skew), for routes that want a recent sign-in; `iat` is then required (`iat_missing`). No limit when absent.",
    },
    numeric("Provider", "max_token_bytes", MAX_TOKEN_BYTES, "Longest token this provider accepts, in bytes (`token_too_large` beyond); at most the filter-wide 16 KiB."),
    numeric("TokenCache", "max_entries", TOKEN_CACHE_ENTRIES, "Verified tokens remembered per worker; 0 disables the cache. Without `token_cache`, the default applies."),
];

/// A default the loader applies to an absent field, as JSON text.
#[derive(Debug, Clone, Copy)]
pub struct Default {
    pub definition: &'static str,
    pub field: &'static str,
    pub value: DefaultValue,
}

#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    Bool(bool),
    Str(&'static str),
    /// The default token source: `Authorization: Bearer`.
    BearerHeader,
}

pub const DEFAULTS: [Default; 8] = [
    Default {
        definition: "Configuration",
        field: "dry_run",
        value: DefaultValue::Bool(false),
    },
    Default {
        definition: "Configuration",
        field: "realm",
        value: DefaultValue::Str(DEFAULT_REALM),
    },
    Default {
        definition: "Provider",
        field: "require_exp",
        value: DefaultValue::Bool(true),
    },
    Default {
        definition: "Provider",
        field: "forward_token",
        value: DefaultValue::Bool(false),
    },
    Default {
        definition: "Provider",
        field: "sources",
        value: DefaultValue::BearerHeader,
    },
    Default {
        definition: "ColdStart",
        field: "on_timeout",
        value: DefaultValue::Str("unavailable"),
    },
    Default {
        definition: "Introspect",
        field: "on_outage",
        value: DefaultValue::Str("deny"),
    },
    Default {
        definition: "ClaimToHeader",
        field: "join",
        value: DefaultValue::Str(DEFAULT_JOIN),
    },
];

/// A size limit: `maxItems` of a list, `maxProperties` of a map, `maxLength` of a string.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub definition: &'static str,
    pub field: &'static str,
    pub keyword: &'static str,
    pub max: usize,
}

pub const LIMITS: [Limit; 8] = [
    Limit {
        definition: "Configuration",
        field: "providers",
        keyword: "maxProperties",
        max: MAX_PROVIDERS,
    },
    Limit {
        definition: "Configuration",
        field: "rules",
        keyword: "maxItems",
        max: MAX_RULES,
    },
    Limit {
        definition: "Configuration",
        field: "realm",
        keyword: "maxLength",
        max: MAX_REALM_LEN,
    },
    Limit {
        definition: "Provider",
        field: "sources",
        keyword: "maxItems",
        max: MAX_SOURCES,
    },
    Limit {
        definition: "Provider",
        field: "claims_to_headers",
        keyword: "maxItems",
        max: MAX_CLAIMS_TO_HEADERS,
    },
    Limit {
        definition: "Match",
        field: "methods",
        keyword: "maxItems",
        max: MAX_LIST,
    },
    Limit {
        definition: "Match",
        field: "hosts",
        keyword: "maxItems",
        max: MAX_LIST,
    },
    Limit {
        definition: "Match",
        field: "headers",
        keyword: "maxItems",
        max: MAX_LIST,
    },
];

/// Provider ids name metrics and log lines.
pub const PROVIDER_ID_MAX_LEN: usize = MAX_PROVIDER_ID_LEN;
