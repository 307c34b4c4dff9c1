//! The configuration as the user writes it. Every struct refuses unknown fields, so
//! a typo (`audience` for `audiences`) is an error with its path, not a silently
//! ignored security setting. "Exactly one of" choices are optional fields checked in
//! `compile`, so the error names the choice and its path.

use crate::jwa::Algorithm;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Configuration")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(title = "claimcheck configuration"))]
pub struct RawConfig {
    /// Token issuers, by id. The id is used in rules and in metric names.
    #[serde(default)]
    pub providers: OrderedMap<RawProvider>,
    /// Tried in order; the first rule whose `match` holds decides.
    #[serde(default)]
    pub rules: Vec<RawRule>,
    /// The action when no rule matches.
    pub default: RawDefault,
    /// Evaluate, log and count would-be refusals, but let every request through.
    #[serde(default)]
    pub dry_run: bool,
    pub token_cache: Option<RawTokenCache>,
    /// `realm` of `WWW-Authenticate` (default `claimcheck`).
    pub realm: Option<String>,
    /// Where signatures are verified: `auto` (the host's crypto when it passes the start-up
    /// probe, else in the VM), `host` (required) or `wasm`.
    #[serde(default)]
    pub crypto: crate::crypto::CryptoChoice,
    /// Which decisions are written to the request's filter state for Envoy's access log:
    /// `all`, `refusals` (default: refusals and dry-run would-be refusals) or `off`.
    #[serde(default)]
    pub access_log: super::AccessLog,
    /// How request paths are made canonical before rules match them.
    pub paths: Option<RawPaths>,
}

/// The canonical form rules match paths in (see the README's "Paths").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Paths")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawPaths {
    /// `%2F`, `%5C` and `\`: `reject` (default, 400 `path_escaped_slash`), `decode` (read
    /// as `/`), `keep` (part of the segment).
    pub escaped_slashes: Option<RawEscapedSlashes>,
    /// `;params` in a segment: `strip` (default: match without them) or `keep`.
    pub matrix_parameters: Option<RawMatrixParameters>,
    /// Match paths ignoring ASCII case (default false).
    pub case_insensitive: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", rename = "EscapedSlashes")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawEscapedSlashes {
    Reject,
    Decode,
    Keep,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", rename = "MatrixParameters")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawMatrixParameters {
    Strip,
    Keep,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Provider")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawProvider {
    /// Exact `iss` value of this provider's tokens. Exactly one of `issuer`, `issuers`.
    pub issuer: Option<String>,
    /// Several accepted `iss` values (Google's two spellings, Entra ID v1 and v2), each exact
    /// or a template holding `{tenantid}` (multi-tenant Entra ID; needs `tenants`). The first
    /// is the issuer a discovery document must announce.
    pub issuers: Option<Vec<String>>,
    /// The tenants an issuer template accepts, and the claim naming a token's tenant.
    pub tenants: Option<RawTenants>,
    /// Required: the accepted `aud` values (any of), or `"any"` to accept tokens meant for
    /// every audience (an explicit opt-out: the IdP's tokens for other services verify with
    /// the same keys).
    #[cfg_attr(feature = "schema", schemars(with = "SchemaAudiences"))]
    pub audiences: Option<RawAudiences>,
    /// The claim holding the audience (default `aud`). Amazon Cognito access tokens carry
    /// their app client id in `client_id` and have no `aud`.
    pub audience_claim: Option<String>,
    /// Accepted algorithms. Default: every asymmetric algorithm; HS* only when listed.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Where the provider's keys come from. Absent only with `introspection`: the provider
    /// then takes opaque tokens, judged by the authorization server alone.
    #[serde(default)]
    pub jwks: RawJwks,
    pub refresh: Option<RawRefresh>,
    pub cold_start: Option<RawColdStart>,
    /// Where the token is. Default: `Authorization: Bearer`.
    pub sources: Option<Vec<RawSource>>,
    pub clock_skew_s: Option<u64>,
    pub max_lifetime_s: Option<u64>,
    pub require_exp: Option<bool>,
    /// Claims (dot paths) that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Keep the token on the request sent upstream (default false: removed).
    #[serde(default)]
    pub forward_token: bool,
    #[serde(default)]
    pub claims_to_headers: Vec<RawClaimToHeader>,
    /// Header receiving the token's base64url payload segment.
    pub payload_header: Option<String>,
    /// The JOSE header `typ` this provider's tokens must carry (RFC 8725 §3.11), e.g.
    /// `at+jwt` for RFC 9068 access tokens; compared case-insensitively, `application/`
    /// optional. Absent: any `typ`, or none.
    pub token_type: Option<String>,
    /// Longest token this provider accepts, in bytes (at most the filter-wide limit).
    pub max_token_bytes: Option<u64>,
    /// DPoP (RFC 9449): tokens bound to a key the client proves it holds with each request.
    pub dpop: Option<RawDpop>,
    /// RFC 8705 certificate-bound tokens: `if_present` (default: a token with
    /// `cnf.x5t#S256` must come with that client certificate), `required` (every token must
    /// be bound), `off` (ignore `cnf.x5t#S256`).
    pub certificate_binding: Option<RawCertificateBinding>,
    /// Token introspection (RFC 7662): the authorization server's word on whether a token
    /// is still active, asked once per token per Envoy process and cached. Rules demand it
    /// with `require.introspect`; a provider without `jwks` asks it for every token.
    pub introspection: Option<RawIntrospection>,
    /// A revocation list (`{"jti": [..], "sub": [..], "sid": [..]}`) fetched like the JWKS and
    /// consulted on every accepted token, cached ones included (see `docs/revocation.md`).
    pub revocation: Option<RawRevocation>,
}

/// A provider's introspection endpoint and cache (see `docs/introspection.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Introspection")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawIntrospection {
    /// Envoy cluster that reaches the introspection endpoint.
    pub cluster: String,
    /// Absolute http(s) URL of the introspection endpoint (its authority and path are sent).
    pub uri: String,
    pub timeout_ms: Option<u64>,
    /// How claimcheck authenticates to the endpoint (RFC 7662 §2.1 requires it).
    pub client_auth: RawClientAuth,
    /// An active answer is used at most this long (never past its `exp`): how late a
    /// revocation at the server takes effect.
    pub max_ttl_s: Option<u64>,
    /// How long `active: false` is remembered.
    pub negative_ttl_s: Option<u64>,
    /// How long a failed call is remembered (requests meanwhile get the outage behaviour).
    pub failure_ttl_ms: Option<u64>,
    /// Slots of the shared answer cache (one token per slot).
    pub slots: Option<u64>,
}

/// Exactly one of `basic`, `bearer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "ClientAuth")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    pub basic: Option<RawBasicAuth>,
    /// A bearer token of claimcheck's own for the endpoint.
    pub bearer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "BasicAuth")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawBasicAuth {
    pub client_id: String,
    pub client_secret: String,
}

/// `require.introspect`: the authorization server must call the token active.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Introspect")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawIntrospect {
    /// When no answer can be had (the call fails or times out): `deny` (default: 503
    /// `introspection_unavailable`) or `allow` (the verified JWT passes; logged and counted).
    pub on_outage: Option<RawOnOutage>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", rename = "OnOutage")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawOnOutage {
    Deny,
    Allow,
}

/// Where a provider's revocation list is fetched and how fresh it is kept. A list older than
/// `max_stale_s` refuses every token of the provider (503 `revocation_list_unavailable`):
/// a revoked token must never pass because the list could not be had.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Revocation")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawRevocation {
    /// Envoy cluster that reaches the list's host.
    pub cluster: String,
    /// Absolute http(s) URL of the list.
    pub uri: String,
    pub timeout_ms: Option<u64>,
    pub interval_s: Option<u64>,
    pub min_interval_s: Option<u64>,
    pub max_stale_s: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// A provider's DPoP settings (see the README's "DPoP" and `docs/dpop.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Dpop")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawDpop {
    /// `off` (default), `allowed` (a token with `cnf.jkt` needs its proof; bearer tokens
    /// without `cnf` still pass) or `required` (only DPoP-bound tokens, with their proof).
    pub mode: Option<RawDpopMode>,
    /// Algorithms a proof may be signed with (asymmetric only). Default: every asymmetric one.
    pub algorithms: Option<Vec<Algorithm>>,
    /// How old a proof's `iat` may be, in seconds.
    pub max_age_s: Option<u64>,
    /// Leeway for the proof's `iat`, in seconds, both ways.
    pub clock_skew_s: Option<u64>,
    /// The origin clients address (`https://api.example.com`), when Envoy sits behind a
    /// proxy that changes the scheme or authority. Default: the request's `:scheme` and
    /// `:authority`.
    pub origin: Option<String>,
    /// Keep the `DPoP` header on the request sent upstream (default false: removed).
    #[serde(default)]
    pub forward_proof: bool,
    /// Slots of the cross-worker replay cache (each holds 8 live proofs).
    pub replay_slots: Option<u64>,
    /// Server-provided nonces (RFC 9449 §8): proofs must carry a recent one.
    pub nonce: Option<RawDpopNonce>,
}

/// `dpop.nonce`: proofs must carry a nonce this provider minted recently (`docs/dpop.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "DpopNonce")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawDpopNonce {
    /// The length of a nonce window, in seconds; a nonce is accepted in the window it was
    /// minted in and the next one.
    pub lifetime_s: Option<u64>,
    /// The MAC secret of the nonces: base64url (no padding) of 32 to 64 random bytes. Give
    /// every replica behind one address the same secret so each accepts the others' nonces.
    pub secret: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", rename = "CertificateBinding")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawCertificateBinding {
    Off,
    IfPresent,
    Required,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", rename = "DpopMode")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawDpopMode {
    Off,
    Allowed,
    Required,
}

/// `audiences`: a list of accepted values, or the string `"any"`. Any other string is an
/// error rather than a one-element list, so `"audiences": "any"` can never be mistaken for an
/// audience named `any` (write `["any"]` for that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawAudiences {
    List(Vec<String>),
    Any,
}

/// The keyword that accepts every audience.
pub const ANY_AUDIENCE: &str = "any";

impl<'de> Deserialize<'de> for RawAudiences {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudiencesVisitor;
        impl<'de> Visitor<'de> for AudiencesVisitor {
            type Value = RawAudiences;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of audiences or \"{ANY_AUDIENCE}\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                if text == ANY_AUDIENCE {
                    Ok(RawAudiences::Any)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(text), &self))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(audience) = seq.next_element::<String>()? {
                    list.push(audience);
                }
                Ok(RawAudiences::List(list))
            }
        }
        deserializer.deserialize_any(AudiencesVisitor)
    }
}

/// The accepted `aud` values, or `"any"` to accept every audience.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(untagged, rename = "Audiences")]
#[allow(dead_code)]
enum SchemaAudiences {
    List(Vec<String>),
    Any(SchemaAnyAudience),
}

#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(rename = "AnyAudience")]
#[allow(dead_code)]
enum SchemaAnyAudience {
    #[serde(rename = "any")]
    Any,
}

/// `claim` (default `tid`) and exactly one of `allowed`, `pattern`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Tenants")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawTenants {
    /// Top-level claim naming the token's tenant (default `tid`, Entra ID's tenant id).
    pub claim: Option<String>,
    /// Exactly these tenants.
    pub allowed: Option<Vec<String>>,
    /// Tenants this regex accepts (full match, within one URL segment).
    pub pattern: Option<String>,
}

/// Exactly one of `remote`, `oidc_discovery`, `inline`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Jwks")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawJwks {
    pub remote: Option<RawRemote>,
    pub oidc_discovery: Option<RawDiscovery>,
    /// A JWKS object, or a string holding one.
    pub inline: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Remote")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawRemote {
    /// Envoy cluster that reaches the JWKS host.
    pub cluster: String,
    /// Absolute http(s) URL of the JWKS.
    pub uri: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Discovery")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawDiscovery {
    pub cluster: String,
    /// Default: `<issuer>/.well-known/openid-configuration`.
    pub uri: Option<String>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Refresh")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawRefresh {
    pub interval_s: Option<u64>,
    pub min_interval_s: Option<u64>,
    pub max_stale_s: Option<u64>,
    pub retry_initial_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
    pub unknown_kid_min_interval_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "ColdStart")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawColdStart {
    pub max_wait_ms: Option<u64>,
    pub on_timeout: Option<RawOnTimeout>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", rename = "OnTimeout")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawOnTimeout {
    /// 503 with `Retry-After`.
    Unavailable,
    /// 401 `invalid_token`.
    Deny,
}

/// Exactly one of `header` (with optional `prefix`), `query`, `cookie`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Source")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawSource {
    pub header: Option<String>,
    /// Scheme and separator, e.g. `"Bearer "`; the scheme compares case-insensitively.
    pub prefix: Option<String>,
    pub query: Option<String>,
    pub cookie: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "ClaimToHeader")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawClaimToHeader {
    pub claim: String,
    pub header: String,
    /// Separator for array claims (default `,`).
    pub join: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "TokenCache")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawTokenCache {
    /// Verified tokens kept per worker; 0 disables the cache.
    pub max_entries: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Rule")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawRule {
    /// Shown in logs, metrics and explain output (default `rules[i]`).
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matcher: Option<RawMatch>,
    pub action: RawActionKind,
    /// Mandatory when `action` is `require`.
    pub require: Option<RawRequire>,
    /// Overrides the global `dry_run` for this rule (staged roll-out).
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "DefaultAction")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawDefault {
    pub action: RawActionKind,
    pub require: Option<RawRequire>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", rename = "Action")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RawActionKind {
    Allow,
    Deny,
    Require,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Match")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawMatch {
    pub path: Option<RawPathMatch>,
    /// Any of.
    pub methods: Option<Vec<String>>,
    /// Any of; a leading `*.` matches subdomains; the port is ignored.
    pub hosts: Option<Vec<String>>,
    /// All of.
    pub headers: Option<Vec<RawHeaderMatch>>,
    /// Envoy's `xds.route_name`.
    pub route_name: Option<String>,
    /// The downstream connection's peer (mTLS client certificate).
    pub peer: Option<RawPeerMatch>,
}

/// The peer of the downstream connection: every present part must hold. Envoy reads it from
/// the client certificate the listener validated (`require_client_certificate`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "PeerMatch")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawPeerMatch {
    /// `true`: the connection presented a client certificate; `false`: it did not.
    pub mtls: Option<bool>,
    /// The certificate's first URI SAN (the SPIFFE ID in Istio, Kuma, SPIRE); `template`
    /// variables (`spiffe://{trust_domain}/ns/{namespace}/sa/{sa}`) are captures that
    /// `equals_peer` conditions may name.
    pub uri_san: Option<RawIdentityMatch>,
    /// The certificate's first DNS SAN.
    pub dns_san: Option<RawIdentityMatch>,
    /// The certificate's subject, as Envoy writes it (`CN=orders,O=shop`).
    pub subject: Option<RawIdentityMatch>,
}

/// Exactly one of `exact`, `prefix`, `suffix`, `regex` (full match), `template` (URI SAN
/// only: `/`-separated segments, `{name}` or `*` one segment, `**` last).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "IdentityMatch")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawIdentityMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub regex: Option<String>,
    pub template: Option<String>,
}

/// Exactly one of `exact`, `prefix`, `template`, `regex` (full match).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "PathMatch")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawPathMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    /// `{name}` or `*` = one segment, `**` (last) = any rest.
    pub template: Option<String>,
    pub regex: Option<String>,
}

/// `name` and exactly one of `exact`, `prefix`, `regex` (full match), `present`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "HeaderMatch")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawHeaderMatch {
    pub name: String,
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
    pub present: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Require")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawRequire {
    pub providers: RawProviderSet,
    pub claims: Option<RawCondition>,
    pub max_token_age_s: Option<u64>,
    /// The peer the request must come from, checked before any token: 403
    /// `peer_certificate_missing` without a client certificate, `peer_not_allowed` with
    /// another one.
    pub peer: Option<RawPeerMatch>,
    /// The providers' introspection endpoint must call the token active, on every request.
    pub introspect: Option<RawIntrospect>,
}

/// Exactly one of `any`, `all`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "ProviderSet")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawProviderSet {
    pub any: Option<Vec<String>>,
    pub all: Option<Vec<String>>,
}

/// Either `claim` with exactly one operator, or exactly one of `all`, `any`, `not`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename = "Condition")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RawCondition {
    /// Dot path of the claim, e.g. `org.tier`.
    pub claim: Option<String>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<SchemaScalar>"))]
    pub equals: Option<Value>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<SchemaScalar>>"))]
    pub one_of: Option<Vec<Value>>,
    /// An array claim has the element; a string claim equals it, or has it as a word when the
    /// claim is space-delimited (`space_delimited`).
    #[cfg_attr(feature = "schema", schemars(with = "Option<SchemaScalar>"))]
    pub contains: Option<Value>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<SchemaScalar>>"))]
    pub contains_all: Option<Vec<Value>>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<SchemaScalar>>"))]
    pub contains_any: Option<Vec<Value>>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    /// Full match.
    pub regex: Option<String>,
    /// `true`: present (not null); `false`: absent or null.
    pub exists: Option<bool>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>"))]
    pub gt: Option<Value>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>"))]
    pub gte: Option<Value>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>"))]
    pub lt: Option<Value>,
    #[cfg_attr(feature = "schema", schemars(with = "Option<f64>"))]
    pub lte: Option<Value>,
    /// A string claim equals this text with its placeholders filled from the request's
    /// peer: `{name}` is a variable of the rule's `peer.uri_san.template`, `{peer.uri_san}`,
    /// `{peer.dns_san}`, `{peer.subject}` the peer's values. E.g.
    /// `system:serviceaccount:{namespace}:{sa}`. False without a peer value to compare with.
    pub equals_peer: Option<String>,
    /// With `contains`, `contains_all`, `contains_any`: read a string claim as space-delimited
    /// words. Default: true for `scope` and `scp` (RFC 6749 §3.3, RFC 8693 §4.2), false for
    /// every other claim, whose string is one value.
    pub space_delimited: Option<bool>,
    pub all: Option<Vec<RawCondition>>,
    pub any: Option<Vec<RawCondition>>,
    pub not: Option<Box<RawCondition>>,
}

/// A JSON scalar, for the schema of condition literals.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(untagged, rename = "Scalar")]
#[allow(dead_code)]
enum SchemaScalar {
    String(String),
    Number(f64),
    Bool(bool),
}

/// A JSON object read in document order that refuses duplicate keys: serde's maps
/// keep the last duplicate silently, which would let a second `"corp"` provider
/// replace the first unnoticed. Order matters: provider ids follow it.
#[derive(Debug)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate key {key:?}"
                        )));
                    }
                    let value = map.next_value::<T>()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for OrderedMap<T> {
    fn schema_name() -> String {
        format!("Map_of_{}", T::schema_name())
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        gen.subschema_for::<std::collections::BTreeMap<String, T>>()
    }
}
