//! `claimcheck issuer`: a development OpenID provider that serves only what a relying
//! party needs to verify tokens — the discovery document (OpenID Connect Discovery 1.0 §4)
//! and the JWK Set — over plain HTTP/1.1 on a loopback address.
//!
//! One thread per connection, each bounded in size and time; every response closes its
//! connection, so a slow client costs one thread for at most [`IO_TIMEOUT`]. The JWKS file
//! is read on every request, so replacing it demonstrates key rotation without a restart.

use std::fmt;
use std::io::Write as _;

use crate::files::{read_bounded, BoundedReadError};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

/// Largest request head we read. The routes need only a request line; 8 KiB is the
/// common default header limit of HTTP servers (nginx `large_client_header_buffers`,
/// Apache `LimitRequestFieldSize`), so real clients always fit.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// Largest JWKS file served. Real provider key sets are a few KiB (a handful of 4096-bit
/// RSA keys); 1 MiB refuses an accidental huge file without limiting real ones.
pub const MAX_JWKS_FILE_BYTES: u64 = 1024 * 1024;

/// Connections served at once. Envoy fetches keys once per refresh per process, so a
/// development issuer sees a few connections at a time; beyond this we answer 503.
pub const MAX_CONNECTIONS: usize = 32;

/// Read and write timeout for one connection: a client that stalls longer is dropped.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037
/// §2). A key set published for verification must not contain any of them.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One line on stderr; a closed stderr must not stop the server, so errors are ignored.
fn log(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What the issuer serves, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    /// The `iss` value tokens carry; also the base of the discovery URL.
    pub issuer: String,
    pub jwks_file: PathBuf,
    /// Where the discovery document says the keys are; default `<issuer>/jwks.json`.
    pub jwks_uri: Option<String>,
    pub listen: SocketAddr,
}

/// Why the issuer could not start.
#[derive(Debug)]
pub enum IssuerError {
    /// The issuer (or `--jwks-uri`) is not an `http(s)://host[/path]` URL.
    NotHttpUrl(String),
    /// OIDC Discovery §3: the issuer URL has no query or fragment.
    IssuerHasQueryOrFragment(String),
    /// The development issuer listens on loopback only.
    ListenNotLoopback(SocketAddr),
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    Jwks(JwksFileError),
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerError::NotHttpUrl(url) => write!(f, "{url:?} is not an http(s)://host[/path] URL"),
            IssuerError::IssuerHasQueryOrFragment(url) => {
                write!(f, "issuer {url:?} must not have a query or fragment (OIDC Discovery section 3)")
            }
            IssuerError::ListenNotLoopback(addr) => write!(
                f,
                "{addr} is not a loopback address: the development issuer listens on 127.0.0.1 or [::1] only"
            ),
            IssuerError::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            IssuerError::Jwks(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for IssuerError {}

/// Why a JWKS file cannot be served.
#[derive(Debug)]
pub enum JwksFileError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    TooLarge {
        path: PathBuf,
    },
    NotJson {
        path: PathBuf,
    },
    /// RFC 7517 §5: a JWK Set is an object with a `keys` array.
    NoKeysArray {
        path: PathBuf,
    },
    KeyNotObject {
        path: PathBuf,
        index: usize,
    },
    /// A key carries private material; publishing it would hand out the signing key.
    PrivateMember {
        path: PathBuf,
        index: usize,
        member: &'static str,
    },
}

impl fmt::Display for JwksFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksFileError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            JwksFileError::TooLarge { path } => write!(
                f,
                "{}: larger than {MAX_JWKS_FILE_BYTES} bytes",
                path.display()
            ),
            JwksFileError::NotJson { path } => write!(f, "{}: not JSON", path.display()),
            JwksFileError::NoKeysArray { path } => {
                write!(f, "{}: not a JWK Set (no \"keys\" array)", path.display())
            }
            JwksFileError::KeyNotObject { path, index } => {
                write!(f, "{}: keys[{index}] is not an object", path.display())
            }
            JwksFileError::PrivateMember {
                path,
                index,
                member,
            } => write!(
                f,
                "{}: keys[{index}] has private member \"{member}\"; the issuer publishes public keys only \
                 (HMAC keys belong inline in the filter configuration)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JwksFileError {}

/// Reads a JWK Set and checks that it is safe to publish.
pub fn load_public_jwks(path: &Path) -> Result<Value, JwksFileError> {
    let bytes = read_bounded(path, MAX_JWKS_FILE_BYTES).map_err(|error| match error {
        BoundedReadError::TooLarge => JwksFileError::TooLarge {
            path: path.to_path_buf(),
        },
        BoundedReadError::Io(error) => JwksFileError::Io {
            path: path.to_path_buf(),
            error,
        },
    })?;
    let jwks: Value = serde_json::from_slice(&bytes).map_err(|_| JwksFileError::NotJson {
        path: path.to_path_buf(),
    })?;
    let keys =
        jwks.get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksFileError::NoKeysArray {
                path: path.to_path_buf(),
            })?;
    for (index, key) in keys.iter().enumerate() {
        let key = key.as_object().ok_or_else(|| JwksFileError::KeyNotObject {
            path: path.to_path_buf(),
            index,
        })?;
        if let Some(member) = PRIVATE_JWK_MEMBERS
            .into_iter()
            .find(|member| key.contains_key(*member))
        {
            return Err(JwksFileError::PrivateMember {
                path: path.to_path_buf(),
                index,
                member,
            });
        }
    }
    Ok(jwks)
}

/// The path part of an `http(s)://authority[/path]` URL, without a trailing slash.
fn url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    if authority.is_empty() {
        return None;
    }
    Some(path.trim_end_matches('/'))
}

/// The served routes and documents.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Routes {
    discovery_path: String,
    jwks_path: String,
    issuer: String,
    jwks_uri: String,
}

impl Routes {
    fn new(settings: &IssuerSettings) -> Result<Routes, IssuerError> {
        let issuer = settings.issuer.clone();
        if issuer.contains(['?', '#']) {
            return Err(IssuerError::IssuerHasQueryOrFragment(issuer));
        }
        let issuer_path =
            url_path(&issuer).ok_or_else(|| IssuerError::NotHttpUrl(issuer.clone()))?;
        // OIDC Discovery §4.1: the document lives at the issuer's path plus
        // `/.well-known/openid-configuration`.
        let discovery_path = format!("{issuer_path}/.well-known/openid-configuration");
        let jwks_uri = settings
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/jwks.json", issuer.trim_end_matches('/')));
        let jwks_path = url_path(jwks_uri.split(['?', '#']).next().unwrap_or_default())
            .ok_or_else(|| IssuerError::NotHttpUrl(jwks_uri.clone()))?;
        let jwks_path = if jwks_path.is_empty() { "/" } else { jwks_path }.to_owned();
        Ok(Routes {
            discovery_path,
            jwks_path,
            issuer,
            jwks_uri,
        })
    }

    fn discovery_document(&self, jwks: &Value) -> Value {
        let mut algorithms: Vec<&str> = jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|key| key.get("alg").and_then(Value::as_str))
            .collect();
        algorithms.sort_unstable();
        algorithms.dedup();
        if algorithms.is_empty() {
            // OIDC Discovery §3: RS256 MUST be listed when nothing else is known.
            algorithms.push("RS256");
        }
        json!({
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": algorithms,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
    }
}

/// A bound, not yet serving, issuer.
pub struct Issuer {
    listener: TcpListener,
    routes: Arc<Routes>,
    jwks_file: Arc<PathBuf>,
}

impl Issuer {
    /// Checks the settings and the JWKS file, then binds the listener.
    pub fn bind(settings: &IssuerSettings) -> Result<Issuer, IssuerError> {
        if !settings.listen.ip().is_loopback() {
            return Err(IssuerError::ListenNotLoopback(settings.listen));
        }
        let routes = Routes::new(settings)?;
        load_public_jwks(&settings.jwks_file).map_err(IssuerError::Jwks)?;
        let listener = TcpListener::bind(settings.listen).map_err(|error| IssuerError::Bind {
            addr: settings.listen,
            error,
        })?;
        Ok(Issuer {
            listener,
            routes: Arc::new(routes),
            jwks_file: Arc::new(settings.jwks_file.clone()),
        })
    }

    /// The bound address (with the real port when `:0` was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The discovery and JWKS paths served.
    pub fn paths(&self) -> (&str, &str) {
        (&self.routes.discovery_path, &self.routes.jwks_path)
    }

    /// Serves until the process ends. Per-connection failures are logged, never fatal.
    pub fn serve(self) -> std::io::Result<()> {
        let active = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            let mut stream = match stream {
                Ok(stream) => stream,
                Err(error) => {
                    log(format_args!("accept failed: {error}"));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let _ = write_response(&mut stream, false, &Response::busy());
                continue;
            }
            let routes = Arc::clone(&self.routes);
            let jwks_file = Arc::clone(&self.jwks_file);
            let active = Arc::clone(&active);
            let spawned = std::thread::Builder::new()
                .name("issuer-conn".into())
                .spawn(move || {
                    handle_connection(stream, &routes, &jwks_file);
                    active.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(error) = spawned {
                log(format_args!("cannot start a connection thread: {error}"));
            }
        }
        Ok(())
    }
}

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    status: u16,
    reason: &'static str,
    body: String,
    allow: bool,
}

impl Response {
    fn json(value: &Value) -> Response {
        Response {
            status: 200,
            reason: "OK",
            body: format!("{value:#}\n"),
            allow: false,
        }
    }

    fn error(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            body: format!("{}\n", json!({ "error": reason })),
            allow: status == 405,
        }
    }

    fn busy() -> Response {
        Response::error(503, "Service Unavailable")
    }
}

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    Malformed,
    Closed,
}

/// Reads up to the blank line that ends the head (RFC 9112 §2.1), within the limit.
fn read_head(stream: &mut impl std::io::Read) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).map_err(|_| HeadError::Closed)?;
        if read == 0 {
            return Err(if head.is_empty() {
                HeadError::Closed
            } else {
                HeadError::Malformed
            });
        }
        head.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if let Some(end) = find_subslice(&head, b"\r\n\r\n") {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Parses the request line: `METHOD SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(head: &[u8]) -> Result<(String, String), HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let line = text.lines().next().ok_or(HeadError::Malformed)?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version), None)
            if !method.is_empty() && target.starts_with('/') && version.starts_with("HTTP/1.") =>
        {
            let path = target.split(['?', '#']).next().unwrap_or_default();
            Ok((method.to_owned(), path.to_owned()))
        }
        _ => Err(HeadError::Malformed),
    }
}

fn route(method: &str, path: &str, routes: &Routes, jwks_file: &Path) -> Response {
    let is_discovery = path == routes.discovery_path;
    let is_jwks = path == routes.jwks_path;
    if !is_discovery && !is_jwks {
        return Response::error(404, "Not Found");
    }
    if method != "GET" && method != "HEAD" {
        return Response::error(405, "Method Not Allowed");
    }
    match load_public_jwks(jwks_file) {
        Ok(jwks) if is_jwks => Response::json(&jwks),
        Ok(jwks) => Response::json(&routes.discovery_document(&jwks)),
        Err(error) => {
            log(format_args!("cannot serve keys: {error}"));
            Response::error(500, "Internal Server Error")
        }
    }
}

fn handle_connection(mut stream: TcpStream, routes: &Routes, jwks_file: &Path) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (method, path, response) =
        match read_head(&mut stream).and_then(|head| parse_request_line(&head)) {
            Ok((method, path)) => {
                let response = route(&method, &path, routes, jwks_file);
                (method, path, response)
            }
            Err(HeadError::Closed) => return,
            Err(HeadError::TooLarge) => (
                "-".to_owned(),
                "-".to_owned(),
                Response::error(431, "Request Header Fields Too Large"),
            ),
            Err(HeadError::Malformed) => (
                "-".to_owned(),
                "-".to_owned(),
                Response::error(400, "Bad Request"),
            ),
        };
    let head_only = method == "HEAD";
    if let Err(error) = write_response(&mut stream, head_only, &response) {
        log(format_args!("{method} {path}: write failed: {error}"));
        return;
    }
    log(format_args!("{method} {path} {}", response.status));
}

fn write_response(
    stream: &mut impl std::io::Write,
    head_only: bool,
    response: &Response,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n",
        response.status,
        response.reason,
        response.body.len()
    );
    if response.allow {
        out.push_str("allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&response.body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str) -> IssuerSettings {
        IssuerSettings {
            issuer: issuer.into(),
            jwks_file: PathBuf::from("unused"),
            jwks_uri: None,
            listen: "127.0.0.1:0".parse().unwrap(),
        }
    }

    #[test]
    fn routes_follow_the_issuer_path() {
        let cases = [
            (
                "http://127.0.0.1:9000",
                "/.well-known/openid-configuration",
                "/jwks.json",
            ),
            (
                "https://idp.example.com/realms/dev/",
                "/realms/dev/.well-known/openid-configuration",
                "/realms/dev/jwks.json",
            ),
        ];
        for (issuer, discovery, jwks) in cases {
            let routes = Routes::new(&settings(issuer)).unwrap();
            assert_eq!(routes.discovery_path, discovery, "{issuer}");
            assert_eq!(routes.jwks_path, jwks, "{issuer}");
        }
    }

    #[test]
    fn jwks_uri_override_moves_the_key_route() {
        let routes = Routes::new(&IssuerSettings {
            jwks_uri: Some("http://127.0.0.1:9000/keys?v=1".into()),
            ..settings("http://127.0.0.1:9000")
        })
        .unwrap();
        assert_eq!(routes.jwks_path, "/keys");
        assert_eq!(routes.jwks_uri, "http://127.0.0.1:9000/keys?v=1");
    }

    #[test]
    fn issuer_that_is_not_a_url_is_refused() {
        for issuer in ["idp.example.com", "http://", "ftp://x"] {
            assert!(matches!(
                Routes::new(&settings(issuer)),
                Err(IssuerError::NotHttpUrl(_))
            ));
        }
        assert!(matches!(
            Routes::new(&settings("https://idp.example.com/?tenant=1")),
            Err(IssuerError::IssuerHasQueryOrFragment(_))
        ));
    }

    #[test]
    fn discovery_lists_the_key_algorithms() {
        let routes = Routes::new(&settings("http://127.0.0.1:9000")).unwrap();
        let doc = routes.discovery_document(&json!({"keys": [
            {"kty": "EC", "alg": "ES256"}, {"kty": "RSA", "alg": "RS256"}, {"kty": "EC", "alg": "ES256"}
        ]}));
        assert_eq!(doc["issuer"], "http://127.0.0.1:9000");
        assert_eq!(doc["jwks_uri"], "http://127.0.0.1:9000/jwks.json");
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["ES256", "RS256"])
        );
    }

    #[test]
    fn request_lines_are_parsed_strictly() {
        assert_eq!(
            parse_request_line(b"GET /jwks.json?x=1 HTTP/1.1\r\nhost: a"),
            Ok(("GET".into(), "/jwks.json".into()))
        );
        for bad in [
            &b"GET /jwks.json"[..],
            b"GET jwks.json HTTP/1.1",
            b"GET / HTTP/2",
            b"GET / HTTP/1.1 extra",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_request_line(bad), Err(HeadError::Malformed));
        }
    }

    #[test]
    fn oversized_request_head_is_refused() {
        let mut huge = std::io::Cursor::new(vec![b'a'; MAX_REQUEST_HEAD_BYTES + 2048]);
        assert_eq!(read_head(&mut huge), Err(HeadError::TooLarge));
    }

    #[test]
    fn jwks_with_private_members_is_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        for member in PRIVATE_JWK_MEMBERS {
            std::fs::write(
                &path,
                json!({"keys": [{"kty": "EC", member: "x"}]}).to_string(),
            )
            .unwrap();
            assert!(
                matches!(
                    load_public_jwks(&path),
                    Err(JwksFileError::PrivateMember { index: 0, member: found, .. }) if found == member
                ),
                "{member}"
            );
        }
    }

    #[test]
    fn malformed_jwks_files_are_reported_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            load_public_jwks(&path),
            Err(JwksFileError::NotJson { .. })
        ));
        std::fs::write(&path, "{\"keys\": {}}").unwrap();
        assert!(matches!(
            load_public_jwks(&path),
            Err(JwksFileError::NoKeysArray { .. })
        ));
        std::fs::write(&path, "{\"keys\": [1]}").unwrap();
        assert!(matches!(
            load_public_jwks(&path),
            Err(JwksFileError::KeyNotObject { index: 0, .. })
        ));
        assert!(matches!(
            load_public_jwks(&dir.path().join("missing.json")),
            Err(JwksFileError::Io { .. })
        ));
    }

    #[test]
    fn non_loopback_listen_address_is_refused() {
        let result = Issuer::bind(&IssuerSettings {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..settings("http://127.0.0.1:9000")
        });
        assert!(matches!(result, Err(IssuerError::ListenNotLoopback(_))));
    }

    #[test]
    fn head_response_has_headers_but_no_body() {
        let mut out = Vec::new();
        write_response(&mut out, true, &Response::json(&json!({"a": 1}))).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(text.contains("content-length: "));
    }
}
