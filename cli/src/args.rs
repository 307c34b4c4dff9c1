//! The command line, as clap derive types. Each subcommand's `--help` ends with examples.

use std::net::SocketAddr;
use std::path::PathBuf;

use claimcheck::jwt::Algorithm;
use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "JWT verification and claim policy for Envoy: the claimcheck command line";

const AFTER_HELP: &str = "\
Exit status:
  0  success: the configuration is valid, the request is allowed
  1  a negative answer: the configuration is invalid, the request is refused
  2  usage or input/output error: bad arguments, unreadable file, malformed key

Colour is used on terminals only; NO_COLOR=1 or --color never turns it off.

Try it out:
  claimcheck keys --alg ES256 --out-dir dev-keys
  claimcheck issuer --jwks dev-keys/jwks.json --issuer http://127.0.0.1:9000 --listen 127.0.0.1:9000 &
  claimcheck token --key dev-keys/private-key.pem --iss http://127.0.0.1:9000 --sub alice --aud orders-api
  claimcheck validate policy.json
  claimcheck explain policy.json --token-file token.jwt --jwks dev-keys/jwks.json --path /orders";

#[derive(Debug, Parser)]
#[command(name = "claimcheck", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// When to colour the output (auto: on terminals, unless NO_COLOR is set).
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Makes every `anstream` writer in the process follow this choice.
    pub fn apply(self) {
        let choice = match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration (JSON/YAML, or inside Istio/Kuma/Envoy manifests).
    Validate(ValidateArgs),
    /// Explain the decision for a request and token: rules, token, claims, response.
    Explain(ExplainArgs),
    /// Print the configuration's JSON Schema.
    #[command(after_help = SCHEMA_AFTER_HELP)]
    Schema,
    /// Generate a development key pair: private key file + jwks.json.
    Keys(KeysArgs),
    /// Mint a signed development token.
    Token(TokenArgs),
    /// Serve OIDC discovery and a JWKS over HTTP on loopback (development issuer).
    Issuer(IssuerArgs),
}

const SCHEMA_AFTER_HELP: &str = "\
The schema is generated from the configuration types the filter deserialises, so it never
drifts from what the filter accepts (semantic checks, such as unknown provider names, are
validate's job).

Examples:
  claimcheck schema > claimcheck.schema.json
  claimcheck schema | jq '.properties.rules'";

const VALIDATE_AFTER_HELP: &str = "\
Accepts the plugin configuration itself (JSON or YAML), an Istio WasmPlugin
(spec.pluginConfig) or TrafficExtension (spec.wasm.pluginConfig), a Kuma MeshProxyPatch
(the Wasm filter in spec.default.appendModifications[].httpFilter.value), or an Envoy
configuration with envoy.filters.http.wasm filters; multi-document YAML is searched whole.
Validation is the filter's own: what passes here passes on_configure in Envoy.
Exit status 0 when every configuration found is valid, 1 otherwise.

Examples:
  claimcheck validate policy-examples/api-gateway.json
  claimcheck validate deploy/istio/wasmplugin.yaml
  claimcheck validate --json deploy/kuma/meshproxypatch.yaml
  kubectl get wasmplugin claimcheck -o yaml | claimcheck validate -";

#[derive(Debug, Args)]
#[command(after_help = VALIDATE_AFTER_HELP)]
pub struct ValidateArgs {
    /// Configuration or manifest file; `-` reads standard input.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

const EXPLAIN_AFTER_HELP: &str = "\
The decision is the filter's own pipeline; the trace shows which rule matched and why earlier
ones did not, where the token was found, its header and claims, the signature and registered
claims per provider, each claim condition, and the response (status, WWW-Authenticate,
reason). --token is put where the rule's first provider reads tokens (default
`authorization: Bearer`). Providers with inline keys are verified against them, others
against --jwks; with no keys the signature is not checked and the output says UNVERIFIED.
Exit status 0 when the request is allowed, 1 when it is refused.

Examples:
  claimcheck explain policy.json --token \"$(cat token.jwt)\" --jwks dev-keys/jwks.json \\
      --method POST --path /admin/acme/users --host api.example.com --header x-env:prod
  claimcheck explain deploy/istio/wasmplugin.yaml --token-file token.jwt --json
  claimcheck explain policy.json --path /healthz                     # no token at all";

#[derive(Debug, Args)]
#[command(after_help = EXPLAIN_AFTER_HELP)]
pub struct ExplainArgs {
    /// Configuration or manifest file; `-` reads standard input.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// The token (JWS compact form).
    #[arg(long, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the token.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request path, with query string.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Request host (:authority).
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// A request header as NAME:VALUE; repeatable.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Envoy route name (xds.route_name).
    #[arg(long)]
    pub route_name: Option<String>,
    /// The connection presented a client certificate (implied by any --peer-* flag).
    #[arg(long)]
    pub mtls: bool,
    /// The client certificate's first URI SAN (a SPIFFE ID in a mesh).
    #[arg(long, value_name = "URI")]
    pub peer_uri_san: Option<String>,
    /// The client certificate's first DNS SAN.
    #[arg(long, value_name = "NAME")]
    pub peer_dns_san: Option<String>,
    /// The client certificate's subject, as Envoy writes it (`CN=orders,O=shop`).
    #[arg(long, value_name = "DN")]
    pub peer_subject: Option<String>,
    /// The client certificate (PEM), for RFC 8705 certificate-bound tokens (implies --mtls).
    #[arg(long, value_name = "FILE", conflicts_with = "peer_cert_sha256")]
    pub peer_cert: Option<PathBuf>,
    /// The client certificate's SHA-256 as Envoy gives it: 64 hex digits (implies --mtls).
    #[arg(long, value_name = "HEX")]
    pub peer_cert_sha256: Option<String>,
    /// JWKS for providers without inline keys.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// The introspection endpoint's answer for the token (RFC 7662 JSON, e.g.
    /// `{"active": true, "scope": "..."}`); without it, introspection has no answer.
    #[arg(long, value_name = "FILE")]
    pub introspection: Option<PathBuf>,
    /// A revocation list (`{"jti": [..], "sub": [..], "sid": [..]}`) for the providers that
    /// configure one; without it, those providers have no list (refused as in an outage).
    #[arg(long, value_name = "FILE")]
    pub revocation_list: Option<PathBuf>,
    /// The current time (Unix seconds or RFC 3339); default: the system clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Which configuration to use when the file holds several (1-based, as listed by validate).
    #[arg(long, value_name = "N")]
    pub select: Option<usize>,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub json: bool,
}

const KEYS_AFTER_HELP: &str = "\
Writes DIR/private-key.pem (PKCS#8; DIR/secret.key for HS*) and DIR/jwks.json holding the
public JWK with kid, alg and use=sig. The key file records its alg and kid, so
`claimcheck token --key FILE` needs neither. These keys are for development only.

Examples:
  claimcheck keys --alg ES256 --out-dir dev-keys
  claimcheck keys --alg RS256 --kid 2026-01 --bits 3072 --out-dir dev-keys/rsa
  claimcheck keys --alg HS256 --out-dir dev-keys/hmac    # jwks.json then holds the secret";

#[derive(Debug, Args)]
#[command(after_help = KEYS_AFTER_HELP)]
pub struct KeysArgs {
    /// Algorithm the key is for: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, HS256/384/512.
    #[arg(long, value_parser = parse_algorithm)]
    pub alg: Algorithm,
    /// Key id; default: the key's RFC 7638 thumbprint.
    #[arg(long)]
    pub kid: Option<String>,
    /// Directory for the files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// RSA modulus size in bits: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048)]
    pub bits: usize,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

const TOKEN_AFTER_HELP: &str = "\
Claims are built in increasing precedence: iat/nbf/exp from --now/--nbf/--ttl, then
--claims-json, then --iss/--sub/--aud, then each --claim. A --claim value is JSON when it
parses as JSON (true, 3, [\"a\",\"b\"], \"quoted\") and a plain string otherwise.
Times are Unix seconds or RFC 3339; --nbf also takes an offset from --now (+5m, -30s).

Examples:
  claimcheck token --key dev-keys/private-key.pem --iss https://idp.example.com --sub alice \\
      --aud orders-api --claim groups='[\"admin\"]' --claim scope='orders:read orders:write'
  claimcheck token --key dev-keys/private-key.pem --now 2020-01-01T00:00:00Z --ttl 5m   # expired
  claimcheck token --key dev-keys/secret.key --claims-json '{\"org\":{\"tier\":2}}' --no-kid";

#[derive(Debug, Args)]
#[command(after_help = TOKEN_AFTER_HELP)]
pub struct TokenArgs {
    /// Private key: PKCS#8 PEM (RSA, EC P-256/P-384/P-521, Ed25519), PKCS#1 RSA PEM, or an HMAC
    /// secret file (one base64url line).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Signing algorithm; default: the key file's, else RS256/ES256/ES384/ES512/EdDSA/HS256 by key type.
    #[arg(long, value_parser = parse_algorithm)]
    pub alg: Option<Algorithm>,
    /// Key id header; default: the key file's, else the key's RFC 7638 thumbprint.
    #[arg(long, conflicts_with = "no_kid")]
    pub kid: Option<String>,
    /// Leave the kid header out.
    #[arg(long)]
    pub no_kid: bool,
    /// The typ header.
    #[arg(long, default_value = "JWT")]
    pub typ: String,
    /// Issuer (iss).
    #[arg(long)]
    pub iss: Option<String>,
    /// Subject (sub).
    #[arg(long)]
    pub sub: Option<String>,
    /// Audience (aud); repeat for several (then aud is an array).
    #[arg(long)]
    pub aud: Vec<String>,
    /// A claim as NAME=VALUE; repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub claims: Vec<String>,
    /// Claims as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub claims_json: Option<String>,
    /// Lifetime: exp = now + TTL.
    #[arg(long, default_value = "1h", conflicts_with = "no_exp")]
    pub ttl: String,
    /// Mint a token without exp.
    #[arg(long)]
    pub no_exp: bool,
    /// Not-before (nbf): a time, or an offset from now such as +5m.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub nbf: Option<String>,
    /// The current time (iat, and the base of exp and nbf); default: the system clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Bind the token to this asymmetric private key (DPoP, RFC 9449): `cnf.jkt` is its
    /// thumbprint. With --dpop-htu, a proof signed by it is printed on a second line.
    #[arg(long, value_name = "FILE")]
    pub dpop_key: Option<PathBuf>,
    /// The request URI of the DPoP proof (htu), e.g. https://api.example.com/orders.
    #[arg(long, value_name = "URL", requires = "dpop_key")]
    pub dpop_htu: Option<String>,
    /// The request method of the DPoP proof (htm).
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub dpop_htm: String,
    /// How many DPoP proofs to print, one a line after the token, each with its own `jti`
    /// (proofs are single-use: a load test needs one per request).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "dpop_htu",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub dpop_proofs: u32,
    /// The server's nonce for the DPoP proofs (the `DPoP-Nonce` of its last reply, RFC 9449
    /// §8), for a provider with `dpop.nonce`.
    #[arg(long, value_name = "NONCE", requires = "dpop_htu")]
    pub dpop_nonce: Option<String>,
}

const ISSUER_AFTER_HELP: &str = "\
Serves <issuer path>/.well-known/openid-configuration (issuer, jwks_uri) and the JWKS at the
path of jwks_uri (default <issuer>/jwks.json) until killed. The JWKS file is re-read on every
request, so replacing it rotates keys live. Keys with private members (d, k, ...) are refused.
Listens on loopback only; the first line printed is `listening on http://ADDR`.

Examples:
  claimcheck issuer --jwks dev-keys/jwks.json --issuer http://127.0.0.1:9000 --listen 127.0.0.1:9000
  claimcheck issuer --jwks dev-keys/jwks.json --issuer https://idp.example.com --listen 127.0.0.1:0";

#[derive(Debug, Args)]
#[command(after_help = ISSUER_AFTER_HELP)]
pub struct IssuerArgs {
    /// The JWK Set to publish (public keys only).
    #[arg(long, value_name = "FILE")]
    pub jwks: PathBuf,
    /// Issuer identifier: the iss of the tokens, and the base of the discovery URL.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// jwks_uri to advertise; default <issuer>/jwks.json.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
}

/// Why an `--alg` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm;

impl std::fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "expected one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512",
        )
    }
}

impl std::error::Error for UnknownAlgorithm {}

/// `--alg` parser: the JOSE names (RFC 7518 §3.1, RFC 8037 §3.1); `none` is not one.
pub fn parse_algorithm(text: &str) -> Result<Algorithm, UnknownAlgorithm> {
    Algorithm::from_name(text).ok_or(UnknownAlgorithm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn alg_none_is_not_an_algorithm() {
        assert_eq!(parse_algorithm("none"), Err(UnknownAlgorithm));
        assert_eq!(parse_algorithm("es256"), Err(UnknownAlgorithm));
        assert_eq!(parse_algorithm("EdDSA"), Ok(Algorithm::EdDSA));
    }
}
