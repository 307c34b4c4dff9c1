//! A small HTTP/1.1 server and client over `std::net`, enough to stand in for an identity
//! provider and an upstream behind Envoy, and to send requests through Envoy.
//!
//! The server keeps connections alive (Envoy pools upstream connections and reuses them), reads
//! bodies framed by `content-length` or `transfer-encoding: chunked`, and lets its handler
//! decide per request to answer, or to drop the connection without a word (an IdP that is down).
//! The client sends one request per connection (`connection: close`), so that every request is
//! a fresh downstream connection for Envoy to place on a worker.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Largest request or response head (start line + headers) we read. Envoy's own default limit
/// for request headers is 60 KiB (`max_request_headers_kb`); 64 KiB leaves room for the start line.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Largest body we read. The messages in these tests are JWKS documents, discovery documents
/// and small JSON replies, all far below this.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long a client waits for Envoy to answer. Generous: a paused request (cold start) waits for
/// the IdP, and the machine may be busy compiling. This bounds a hang; it is not an assertion.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an idle keep-alive connection is kept by the server before it gives up on it.
const SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a message could not be read.
#[derive(Debug)]
pub enum HttpError {
    Io(io::Error),
    /// The peer closed the connection before a complete message arrived.
    Closed,
    HeadTooLarge,
    BodyTooLarge,
    BadStartLine(String),
    BadHeader(String),
    BadChunk,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
            HttpError::Closed => write!(f, "connection closed before a complete message"),
            HttpError::HeadTooLarge => write!(f, "message head larger than {MAX_HEAD_BYTES} bytes"),
            HttpError::BodyTooLarge => write!(f, "message body larger than {MAX_BODY_BYTES} bytes"),
            HttpError::BadStartLine(l) => write!(f, "malformed start line {l:?}"),
            HttpError::BadHeader(l) => write!(f, "malformed header line {l:?}"),
            HttpError::BadChunk => write!(f, "malformed chunked body"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// Header list in arrival order; names lowercased (HTTP header names are case-insensitive).
pub type Headers = Vec<(String, String)>;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A response, as the server sends it or the client received it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The first value of header `name` in `headers` (case-insensitive).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What a handler wants done with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond(Response),
    /// Close the connection without answering (a crashed or unreachable service).
    Close,
}

/// Answers one request. Runs on the connection's own thread, so it may block (a slow IdP).
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A listening server; stops accepting when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` (use port 0 for an ephemeral port) and serves each connection on its
    /// own thread.
    pub fn start(addr: &str, handler: Handler) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name(format!("http-{addr}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = Arc::clone(&handler);
                    let stop_conn = Arc::clone(&stop_flag);
                    // A failed spawn only loses this connection; the peer sees it closed.
                    let _ = thread::Builder::new()
                        .name(format!("conn-{addr}"))
                        .spawn(move || serve_connection(stream, &handler, &stop_conn));
                }
            })?;
        Ok(Server {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the acceptor sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve_connection(stream: TcpStream, handler: &Handler, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(SERVER_IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(r) => r,
            Err(HttpError::Closed) => return,
            Err(_) => {
                let _ = writer.write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                return;
            }
        };
        if stop.load(Ordering::SeqCst) {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        let wants_close =
            header(&request.headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match handler(&request) {
            Reply::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Respond(response) => {
                if write_response(&mut writer, &response, wants_close).is_err() || wants_close {
                    return;
                }
            }
        }
    }
}

fn write_response(w: &mut impl Write, r: &Response, close: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason_phrase(r.status));
    for (name, value) in &r.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n", r.body.len()));
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&r.body)?;
    w.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads the head: start line plus headers, up to the blank line.
fn read_head(r: &mut impl BufRead) -> Result<(String, Headers), HttpError> {
    let mut total = 0usize;
    let mut start_line = String::new();
    let mut headers = Vec::new();
    loop {
        let mut raw = Vec::new();
        let n = r
            .by_ref()
            .take(MAX_HEAD_BYTES as u64)
            .read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        total += n;
        if total > MAX_HEAD_BYTES {
            return Err(HttpError::HeadTooLarge);
        }
        // Header values may carry any byte but NUL, CR and LF (RFC 9110 §5.5 obs-text); keep
        // such a request readable, showing the bytes that are not UTF-8 as U+FFFD.
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if start_line.is_empty() {
            if line.is_empty() {
                // Tolerate blank lines before a request (RFC 9112 §2.2).
                continue;
            }
            start_line = line.to_owned();
            continue;
        }
        if line.is_empty() {
            return Ok((start_line, headers));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HttpError::BadHeader(line.to_owned()))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// Reads a body framed by the headers; `until_eof` for a response without framing.
fn read_body(
    r: &mut impl BufRead,
    headers: &Headers,
    until_eof: bool,
) -> Result<Vec<u8>, HttpError> {
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(r);
    }
    if let Some(len) = header(headers, "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::BadHeader(format!("content-length: {len}")))?;
        if len > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => HttpError::Closed,
            _ => HttpError::Io(e),
        })?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_eof {
        r.take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
    }
    Ok(body)
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        if r.by_ref().take(1024).read_line(&mut size_line)? == 0 {
            return Err(HttpError::Closed);
        }
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::BadChunk)?;
        if size == 0 {
            // Trailers, if any, end with a blank line.
            loop {
                let mut line = String::new();
                if r.by_ref()
                    .take(MAX_HEAD_BYTES as u64)
                    .read_line(&mut line)?
                    == 0
                {
                    return Ok(body);
                }
                if line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        let chunk = body.get_mut(start..).ok_or(HttpError::BadChunk)?;
        r.read_exact(chunk).map_err(|_| HttpError::Closed)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(|_| HttpError::Closed)?;
        if &crlf != b"\r\n" {
            return Err(HttpError::BadChunk);
        }
    }
}

fn read_request(r: &mut impl BufRead) -> Result<Request, HttpError> {
    let (start, headers) = read_head(r)?;
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadStartLine(start));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::BadStartLine(start));
    }
    let (method, target) = (method.to_owned(), target.to_owned());
    let body = read_body(r, &headers, false)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

fn read_response(r: &mut impl BufRead) -> Result<Response, HttpError> {
    let (start, headers) = read_head(r)?;
    let status = start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::BadStartLine(start.clone()))?;
    let body = read_body(r, &headers, true)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Sends one request on a fresh connection and reads the whole response.
///
/// `host` is sent as the `host` header; `headers` are sent as given (so a test can send
/// duplicates or forged identity headers).
pub fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, HttpError> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw)
}

/// Sends `raw` (a complete request, which should ask for `connection: close`) on a fresh
/// connection and reads the response. For requests `send` cannot express, such as header
/// values that are not UTF-8.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Result<Response, HttpError> {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    writer.write_all(raw)?;
    writer.flush()?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader)
}

/// `GET target` with the given headers.
pub fn get(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<Response, HttpError> {
    send(addr, "GET", target, "localhost", headers, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_path() -> Handler {
        Arc::new(|req: &Request| {
            Reply::Respond(Response::json(200, req.target.clone().into_bytes()))
        })
    }

    #[test]
    fn server_answers_a_request_from_the_client() {
        let server = Server::start("127.0.0.1:0", echo_path()).unwrap();
        let r = get(server.addr(), "/x?y=1", &[]).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body_text(), "/x?y=1");
    }

    #[test]
    fn server_keeps_a_connection_alive_for_several_requests() {
        let server = Server::start("127.0.0.1:0", echo_path()).unwrap();
        let stream = TcpStream::connect(server.addr()).unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        for path in ["/a", "/b"] {
            write!(w, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
            let resp = read_response(&mut r).unwrap();
            assert_eq!(resp.body_text(), path);
        }
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let raw = b"POST /p HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let req = read_request(&mut BufReader::new(&raw[..])).unwrap();
        assert_eq!(req.body, b"abcde");
    }

    #[test]
    fn header_values_that_are_not_utf8_are_read_lossily() {
        let raw = b"GET / HTTP/1.1\r\nx-odd: caf\xe9\r\n\r\n";
        let req = read_request(&mut BufReader::new(&raw[..])).unwrap();
        assert_eq!(header(&req.headers, "x-odd"), Some("caf\u{fffd}"));
    }

    #[test]
    fn oversized_heads_are_refused() {
        let mut raw = b"GET / HTTP/1.1\r\nx: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 1));
        raw.extend(b"\r\n\r\n");
        let err = read_request(&mut BufReader::new(&raw[..])).unwrap_err();
        assert!(matches!(err, HttpError::HeadTooLarge), "{err}");
    }

    #[test]
    fn a_handler_can_drop_the_connection_without_answering() {
        let server = Server::start("127.0.0.1:0", Arc::new(|_: &Request| Reply::Close)).unwrap();
        let err = get(server.addr(), "/", &[]).unwrap_err();
        assert!(matches!(err, HttpError::Closed), "{err}");
    }
}
