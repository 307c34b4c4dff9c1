//! A controllable identity provider: serves an OIDC discovery document and a JWKS, counts the
//! requests it receives, and can be told to rotate its keys, fail with a status, drop
//! connections, answer late, or hold requests until released. Tests use it to drive the
//! filter's key lifecycle (cold start, refresh, staleness, unknown `kid`) without a real IdP.

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
    mode: Mode,
    delay: Duration,
    held: bool,
    shutting_down: bool,
    /// Requests received, by path (counted on arrival, before any delay or hold).
    received: HashMap<String, u64>,
    /// Requests answered with a document, by path.
    served: HashMap<String, u64>,
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
                mode: Mode::Serve,
                delay: Duration::ZERO,
                held: false,
                shutting_down: false,
                received: HashMap::new(),
                served: HashMap::new(),
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
        _ => return Reply::Respond(Response::new(404)),
    };
    {
        let mut state = shared.lock();
        bump(&mut state.served, &path);
    }
    shared.changed.notify_all();
    Reply::Respond(Response::json(200, body))
}

/// A discovery document with the fields OpenID Connect Discovery 1.0 §3 marks REQUIRED.
fn discovery_document(issuer: &str) -> Vec<u8> {
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
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
