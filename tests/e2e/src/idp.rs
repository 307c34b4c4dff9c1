//! A controllable identity provider: serves an OIDC discovery document, a JWKS and an RFC 7662
//! introspection endpoint, counts the requests it receives, and can be told to rotate its
//! keys, fail with a status, drop connections, answer late, or hold requests until released.
//! Tests use it to drive the filter's key lifecycle (cold start, refresh, staleness, unknown
//! `kid`) and its introspection (tokens made active or revoked at will) without a real IdP.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{Handler, Reply, Request, Response, Server};

/// Where the discovery document lives (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the key set lives; the discovery document points here (`jwks_uri`).
pub const JWKS_PATH: &str = "/jwks.json";
/// The introspection endpoint (RFC 7662 §2); the discovery document announces it.
pub const INTROSPECTION_PATH: &str = "/introspect";

/// The revocation list (`providers.<name>.revocation`): revoked `jti`, `sub` and `sid` values.
pub const REVOCATION_PATH: &str = "/revoked.json";

/// How the IdP answers discovery and JWKS requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer with the current documents.
    Serve,
    /// Answer every request with this status and an empty body.
    Status(u16),
    /// Drop the connection without answering.
    Close,
}

#[derive(Debug)]
struct State {
    jwks: Vec<u8>,
    /// The revocation list served at [`REVOCATION_PATH`].
    revoked: Vec<u8>,
    mode: Mode,
    delay: Duration,
    held: bool,
    shutting_down: bool,
    /// Requests received, by path (counted on arrival, before any delay or hold).
    received: HashMap<String, u64>,
    /// Requests answered with a document, by path.
    served: HashMap<String, u64>,
    /// The `authorization` header an introspection request must carry (RFC 7662 §2.1).
    introspection_client: Option<String>,
    /// Introspection answers by token; a token not listed is `{"active": false}`.
    answers: HashMap<String, serde_json::Value>,
    /// Introspection requests by token, from authenticated clients.
    introspected: HashMap<String, u64>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread may poison the lock; the counters stay meaningful.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `done` holds for the state; false if `timeout` passed first.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// A running IdP on 127.0.0.1 and an ephemeral port.
pub struct Idp {
    shared: Arc<Shared>,
    server: Option<Server>,
    issuer: String,
}

impl Idp {
    /// Starts serving `jwks` (a JWKS document) as `http://127.0.0.1:<port>`.
    pub fn start(jwks: Vec<u8>) -> io::Result<Idp> {
        Idp::start_inner(jwks, None)
    }

    /// Starts serving `jwks` under another issuer name (`https://idp.example.com`), as a
    /// platform's cluster for that host would reach it: the discovery document and its
    /// `jwks_uri` name `issuer`, whatever address the requests came to.
    pub fn start_as(jwks: Vec<u8>, issuer: &str) -> io::Result<Idp> {
        Idp::start_inner(jwks, Some(issuer.to_owned()))
    }

    fn start_inner(jwks: Vec<u8>, issuer: Option<String>) -> io::Result<Idp> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jwks,
                revoked: br#"{"jti": [], "sub": [], "sid": []}"#.to_vec(),
                mode: Mode::Serve,
                delay: Duration::ZERO,
                held: false,
                shutting_down: false,
                received: HashMap::new(),
                served: HashMap::new(),
                introspection_client: None,
                answers: HashMap::new(),
                introspected: HashMap::new(),
            }),
            changed: Condvar::new(),
        });
        // The issuer names the port, which is known only once bound: bind first, then tell the
        // handler through a cell it reads per request.
        let issuer_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let handler: Handler = {
            let shared = Arc::clone(&shared);
            let issuer_cell = Arc::clone(&issuer_cell);
            Arc::new(move |req: &Request| {
                let issuer = issuer_cell
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_else(|p| p.into_inner().clone());
                handle(&shared, &issuer, req)
            })
        };
        let server = Server::start("127.0.0.1:0", handler)?;
        let issuer = issuer.unwrap_or_else(|| format!("http://127.0.0.1:{}", server.port()));
        match issuer_cell.lock() {
            Ok(mut cell) => *cell = issuer.clone(),
            Err(p) => *p.into_inner() = issuer.clone(),
        }
        Ok(Idp {
            shared,
            server: Some(server),
            issuer,
        })
    }

    /// `http://127.0.0.1:<port>`: the `iss` of tokens and the discovery document's `issuer`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.server.as_ref().map_or(0, Server::port)
    }

    /// The absolute JWKS URI (what discovery announces as `jwks_uri`).
    pub fn jwks_uri(&self) -> String {
        format!("{}{JWKS_PATH}", self.issuer)
    }

    /// Replaces the key set (key rotation).
    pub fn set_jwks(&self, jwks: Vec<u8>) {
        self.shared.lock().jwks = jwks;
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().mode = mode;
    }

    /// Delays every answer by `delay` (a slow IdP).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Holds every request (after counting it) until [`Idp::release`].
    pub fn hold(&self) {
        self.shared.lock().held = true;
    }

    /// Lets held requests, and later ones, be answered.
    pub fn release(&self) {
        self.shared.lock().held = false;
        self.shared.changed.notify_all();
    }

    /// Requests received for `path` so far.
    pub fn received(&self, path: &str) -> u64 {
        self.shared.lock().received.get(path).copied().unwrap_or(0)
    }

    /// Requests for `path` answered with the document so far.
    pub fn served(&self, path: &str) -> u64 {
        self.shared.lock().served.get(path).copied().unwrap_or(0)
    }

    /// Introspection requests must carry this `authorization` header (else 401).
    pub fn require_introspection_client(&self, authorization: &str) {
        self.shared.lock().introspection_client = Some(authorization.to_owned());
    }

    /// The revocation list served from now on (`{"jti": [..], "sub": [..], "sid": [..]}`).
    pub fn set_revocation_list(&self, list: serde_json::Value) {
        self.shared.lock().revoked = list.to_string().into_bytes();
    }

    /// `token` is active: introspection answers `answer` (its `active: true` added).
    pub fn activate(&self, token: &str, mut answer: serde_json::Value) {
        if let Some(members) = answer.as_object_mut() {
            members.insert("active".to_owned(), json!(true));
        }
        self.shared.lock().answers.insert(token.to_owned(), answer);
    }

    /// `token` is revoked: introspection answers `{"active": false}` from now on.
    pub fn deactivate(&self, token: &str) {
        self.shared.lock().answers.remove(token);
    }

    /// Authenticated introspection requests for `token` so far.
    pub fn introspections(&self, token: &str) -> u64 {
        self.shared
            .lock()
            .introspected
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    pub fn jwks_requests(&self) -> u64 {
        self.received(JWKS_PATH)
    }

    pub fn discovery_requests(&self) -> u64 {
        self.received(DISCOVERY_PATH)
    }

    /// Waits until `path` has received at least `n` requests; false if `timeout` passed first.
    pub fn wait_for_received(&self, path: &str, n: u64, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |state| {
            state.received.get(path).copied().unwrap_or(0) >= n
        })
    }

    /// Requests received for any path so far.
    pub fn total_received(&self) -> u64 {
        self.shared.lock().received.values().sum()
    }

    /// Waits until at least `n` requests (any path) have arrived; false if `timeout` passed.
    pub fn wait_for_any_received(&self, n: u64, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |state| state.received.values().sum::<u64>() >= n)
    }

    /// Waits until `path` has been answered at least `n` times; false if `timeout` passed first.
    pub fn wait_for_served(&self, path: &str, n: u64, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |state| {
            state.served.get(path).copied().unwrap_or(0) >= n
        })
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.shutting_down = true;
            state.held = false;
        }
        self.shared.changed.notify_all();
        self.server.take();
    }
}

fn bump(map: &mut HashMap<String, u64>, path: &str) {
    *map.entry(path.to_owned()).or_insert(0) += 1;
}

fn handle(shared: &Shared, issuer: &str, req: &Request) -> Reply {
    let path = req.path().to_owned();
    let (mode, delay) = {
        let mut state = shared.lock();
        bump(&mut state.received, &path);
        shared.changed.notify_all();
        while state.held && !state.shutting_down {
            state = match shared.changed.wait(state) {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
        }
        (state.mode, state.delay)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    match mode {
        Mode::Close => return Reply::Close,
        Mode::Status(status) => return Reply::Respond(Response::new(status)),
        Mode::Serve => {}
    }
    let body = match path.as_str() {
        DISCOVERY_PATH => discovery_document(issuer),
        JWKS_PATH => shared.lock().jwks.clone(),
        REVOCATION_PATH => shared.lock().revoked.clone(),
        INTROSPECTION_PATH => match introspect(shared, req) {
            Ok(answer) => answer,
            Err(status) => return Reply::Respond(Response::new(status)),
        },
        _ => return Reply::Respond(Response::new(404)),
    };
    {
        let mut state = shared.lock();
        bump(&mut state.served, &path);
    }
    shared.changed.notify_all();
    Reply::Respond(Response::json(200, body))
}

/// RFC 7662 §2: a form-encoded POST from an authenticated client naming `token`; the answer,
/// or the status refusing the request.
fn introspect(shared: &Shared, req: &Request) -> Result<Vec<u8>, u16> {
    if req.method != "POST" {
        return Err(405);
    }
    let form = crate::http::header(&req.headers, "content-type").unwrap_or_default();
    if !form.starts_with("application/x-www-form-urlencoded") {
        return Err(415);
    }
    let mut state = shared.lock();
    let authorization = crate::http::header(&req.headers, "authorization");
    if state.introspection_client.is_some()
        && authorization != state.introspection_client.as_deref()
    {
        return Err(401);
    }
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(form_decode)
        .ok_or(400u16)?;
    bump(&mut state.introspected, &token);
    let answer = state
        .answers
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({ "active": false }));
    Ok(serde_json::to_vec(&answer).unwrap_or_default())
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A discovery document with the fields OpenID Connect Discovery 1.0 §3 marks REQUIRED.
fn discovery_document(issuer: &str) -> Vec<u8> {
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECTION_PATH}"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    fn idp() -> Idp {
        Idp::start(br#"{"keys":[]}"#.to_vec()).unwrap()
    }

    #[test]
    fn discovery_names_the_issuer_and_the_jwks_uri() {
        let idp = idp();
        let addr = ([127, 0, 0, 1], idp.port()).into();
        let r = http::get(addr, DISCOVERY_PATH, &[]).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["issuer"], idp.issuer());
        assert_eq!(doc["jwks_uri"], idp.jwks_uri());
        assert_eq!(idp.discovery_requests(), 1);
    }

    #[test]
    fn rotated_keys_are_served_from_the_next_request() {
        let idp = idp();
        let addr = ([127, 0, 0, 1], idp.port()).into();
        idp.set_jwks(br#"{"keys":["b"]}"#.to_vec());
        let r = http::get(addr, JWKS_PATH, &[]).unwrap();
        assert_eq!(r.body, br#"{"keys":["b"]}"#);
        assert_eq!(idp.jwks_requests(), 1);
        assert_eq!(idp.served(JWKS_PATH), 1);
    }

    #[test]
    fn a_failing_idp_answers_with_its_status_and_counts_the_request() {
        let idp = idp();
        let addr = ([127, 0, 0, 1], idp.port()).into();
        idp.set_mode(Mode::Status(500));
        assert_eq!(http::get(addr, JWKS_PATH, &[]).unwrap().status, 500);
        assert_eq!(idp.jwks_requests(), 1);
        assert_eq!(idp.served(JWKS_PATH), 0);
    }

    #[test]
    fn a_delayed_answer_still_arrives() {
        let idp = idp();
        let addr = ([127, 0, 0, 1], idp.port()).into();
        idp.set_delay(Duration::from_millis(50));
        assert_eq!(http::get(addr, JWKS_PATH, &[]).unwrap().status, 200);
        assert_eq!(idp.served(JWKS_PATH), 1);
    }

    fn introspect_request(idp: &Idp, authorization: &str, body: &str) -> http::Response {
        let addr = ([127, 0, 0, 1], idp.port()).into();
        http::send(
            addr,
            "POST",
            INTROSPECTION_PATH,
            "127.0.0.1",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", authorization),
            ],
            body.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn introspection_answers_an_authenticated_client_about_each_token() {
        let idp = idp();
        idp.require_introspection_client("Basic Z3c6cw==");
        idp.activate("a b", json!({ "scope": "x" }));
        let r = introspect_request(
            &idp,
            "Basic Z3c6cw==",
            "token=a+b&token_type_hint=access_token",
        );
        let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(answer, json!({ "active": true, "scope": "x" }));
        idp.deactivate("a b");
        let r = introspect_request(&idp, "Basic Z3c6cw==", "token=a%20b");
        let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(answer, json!({ "active": false }));
        assert_eq!(idp.introspections("a b"), 2);
    }

    #[test]
    fn introspection_refuses_a_client_without_the_right_authentication() {
        let idp = idp();
        idp.require_introspection_client("Basic Z3c6cw==");
        let r = introspect_request(&idp, "Basic bm9wZQ==", "token=t");
        assert_eq!(r.status, 401);
        assert_eq!(idp.introspections("t"), 0);
    }

    #[test]
    fn held_requests_are_answered_after_release() {
        let idp = idp();
        let addr = ([127, 0, 0, 1], idp.port()).into();
        idp.hold();
        let client = std::thread::spawn(move || http::get(addr, JWKS_PATH, &[]).unwrap().status);
        assert!(idp.wait_for_received(JWKS_PATH, 1, Duration::from_secs(10)));
        assert_eq!(idp.served(JWKS_PATH), 0);
        idp.release();
        assert_eq!(client.join().unwrap(), 200);
    }
}
