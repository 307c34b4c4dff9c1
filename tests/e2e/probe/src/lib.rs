//! Callout probe: for each request, dispatch one HTTP call as the request headers say, then
//! answer the request with a JSON report of what Envoy delivered to `on_http_call_response`.
//!
//! Request headers (all optional):
//! - `x-probe-cluster`     cluster to call (default `idp`)
//! - `x-probe-path`        `:path` of the call (default `/jwks.json`)
//! - `x-probe-timeout-ms`  callout timeout (default 1000)
//!
//! Reply body: `{"dispatch": "ok"|"<Status>", "num_headers": n, "headers": [[k, v], ..],
//! "body_size": n, "body": "<first bytes>", "num_trailers": n}`.

use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

/// Timeout when the request does not name one.
const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// How much of the callout's body the report quotes (Envoy's own error bodies are short).
const MAX_REPORTED_BODY: usize = 512;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ProbeRoot) });
}}

struct ProbeRoot;

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Probe))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Probe;

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Probe {
    fn reply(&self, body: String) {
        self.send_http_response(
            200,
            vec![("content-type", "application/json")],
            Some(body.as_bytes()),
        );
    }
}

impl HttpContext for Probe {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let cluster = self
            .get_http_request_header("x-probe-cluster")
            .unwrap_or_else(|| "idp".to_owned());
        let path = self
            .get_http_request_header("x-probe-path")
            .unwrap_or_else(|| "/jwks.json".to_owned());
        let timeout_ms = self
            .get_http_request_header("x-probe-timeout-ms")
            .and_then(|t| t.parse().ok())
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let dispatched = self.dispatch_http_call(
            &cluster,
            vec![(":method", "GET"), (":path", &path), (":authority", "idp")],
            None,
            vec![],
            Duration::from_millis(timeout_ms),
        );
        if let Err(status) = dispatched {
            self.reply(format!(
                "{{\"dispatch\":{}}}",
                json_string(&format!("{status:?}"))
            ));
        }
        Action::Pause
    }
}

impl Context for Probe {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        num_trailers: usize,
    ) {
        let headers: Vec<String> = self
            .get_http_call_response_headers()
            .iter()
            .map(|(k, v)| format!("[{},{}]", json_string(k), json_string(v)))
            .collect();
        let body = self
            .get_http_call_response_body(0, body_size.min(MAX_REPORTED_BODY))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        self.reply(format!(
            "{{\"dispatch\":\"ok\",\"num_headers\":{num_headers},\"headers\":[{}],\"body_size\":{body_size},\"body\":{},\"num_trailers\":{num_trailers}}}",
            headers.join(","),
            json_string(&body)
        ));
    }
}
