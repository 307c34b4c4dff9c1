//! The demo and test upstream: answers every request with what it received, so a test (or a
//! person running the demo) can see exactly which identity headers reached the service behind
//! Envoy and that the token did not.

use std::io;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::http::{Handler, Reply, Request, Response, Server};

/// Starts an echo server on `addr` (port 0 for an ephemeral port).
pub fn start(addr: &str) -> io::Result<Server> {
    let handler: Handler = Arc::new(|req: &Request| Reply::Respond(echo(req)));
    Server::start(addr, handler)
}

/// The reply: `{"method", "path", "headers": {name: value, ...}}`. A header received more than
/// once maps to the array of its values in arrival order, so a forged copy next to the real
/// one stays visible.
pub fn echo(req: &Request) -> Response {
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        let value = Value::String(value.clone());
        match headers.get_mut(name) {
            None => {
                headers.insert(name.clone(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    let body = json!({ "method": req.method, "path": req.target, "headers": headers });
    let mut text = serde_json::to_vec_pretty(&body).unwrap_or_default();
    text.push(b'\n');
    Response::json(200, text)
}

/// An echo reply parsed back, for assertions.
#[derive(Debug, Clone)]
pub struct Echoed {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Echoed {
    /// Parses an echo reply body; `None` when the body is not one (the request never reached
    /// the upstream, e.g. a local reply from the filter).
    pub fn parse(body: &[u8]) -> Option<Echoed> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let mut headers = Vec::new();
        for (name, value) in v.get("headers")?.as_object()? {
            match value {
                Value::String(one) => headers.push((name.clone(), one.clone())),
                Value::Array(many) => {
                    for one in many {
                        headers.push((name.clone(), one.as_str()?.to_owned()));
                    }
                }
                _ => return None,
            }
        }
        Some(Echoed {
            method: v.get("method")?.as_str()?.to_owned(),
            path: v.get("path")?.as_str()?.to_owned(),
            headers,
        })
    }

    /// Every value the upstream received for header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[test]
    fn echo_reports_every_header_in_order_including_duplicates() {
        let server = start("127.0.0.1:0").unwrap();
        let r = http::get(server.addr(), "/hello?q=1", &[("x-a", "1"), ("x-a", "2")]).unwrap();
        let echoed = Echoed::parse(&r.body).unwrap();
        assert_eq!(echoed.method, "GET");
        assert_eq!(echoed.path, "/hello?q=1");
        assert_eq!(echoed.header_all("x-a"), ["1", "2"]);
    }
}
