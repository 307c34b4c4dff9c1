//! A minimal HTTP/2 client over cleartext (h2c with prior knowledge, RFC 9113 §3.3): one
//! request per connection, enough to send what HTTP/1.1 cannot express (a lowercase
//! `:method`, header names HTTP/1.1 would not let through) to Envoy, whose listener detects
//! the HTTP/2 preface on its own.
//!
//! Requests are HPACK-encoded as literals without indexing and without Huffman coding
//! (RFC 7541 §6.2.2), which every decoder must accept. Of the response only `:status` is
//! decoded (static table or literal, Huffman-coded digits included) and the body collected;
//! other response headers are not needed by the tests that use this.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::http::CLIENT_TIMEOUT;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The one stream a connection carries.
const STREAM: u32 = 1;
/// Largest frame payload accepted: the protocol's default `SETTINGS_MAX_FRAME_SIZE`.
const MAX_FRAME: usize = 16_384;
/// Largest response body collected.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A response: its status (when it could be decoded) and its body.
#[derive(Debug, Clone)]
pub struct H2Response {
    pub status: Option<u16>,
    pub body: Vec<u8>,
}

impl H2Response {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`:scheme http`) and reads the response to the end of its stream.
/// `headers` are sent as given, after the pseudo-headers; names must be lowercase.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authority: &str,
    headers: &[(&str, &str)],
) -> io::Result<H2Response> {
    let mut stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut block = Vec::new();
    let pseudo = [
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
    ];
    for (name, value) in pseudo.iter().chain(headers) {
        literal(&mut block, name, value);
    }
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(&mut out, HEADERS, END_STREAM | END_HEADERS, STREAM, &block);
    stream.write_all(&out)?;
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> io::Result<H2Response> {
    let mut response = H2Response {
        status: None,
        body: Vec::new(),
    };
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head)?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_FRAME {
            return Err(invalid(format!("frame of {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload)?;
        match kind {
            SETTINGS if flags & ACK == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, SETTINGS, ACK, 0, &[]);
                stream.write_all(&ack)?;
            }
            PING if flags & ACK == 0 => {
                let mut pong = Vec::new();
                frame(&mut pong, PING, ACK, 0, &payload);
                stream.write_all(&pong)?;
            }
            GOAWAY => return Err(invalid("GOAWAY before the response ended".into())),
            RST_STREAM if id == STREAM => {
                return Err(invalid("the server reset the stream".into()));
            }
            HEADERS if id == STREAM => {
                let block = unpadded(&payload, flags, flags & PRIORITY != 0)?;
                if response.status.is_none() {
                    response.status = status(block);
                }
                if flags & END_STREAM != 0 {
                    return Ok(response);
                }
            }
            DATA if id == STREAM => {
                response
                    .body
                    .extend_from_slice(unpadded(&payload, flags, false)?);
                if response.body.len() > MAX_BODY {
                    return Err(invalid("response body too large".into()));
                }
                if flags & END_STREAM != 0 {
                    return Ok(response);
                }
            }
            _ => {}
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A frame: 24-bit length, type, flags, 31-bit stream id, payload (RFC 9113 §4.1).
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A frame's payload without its padding (and, for HEADERS with PRIORITY, its 5 priority
/// bytes).
fn unpadded(payload: &[u8], flags: u8, priority: bool) -> io::Result<&[u8]> {
    let (pad, rest) = if flags & PADDED != 0 {
        let (&pad, rest) = payload
            .split_first()
            .ok_or_else(|| invalid("empty padded frame".into()))?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    let rest = if priority {
        rest.get(5..).unwrap_or_default()
    } else {
        rest
    };
    rest.get(..rest.len().saturating_sub(pad))
        .ok_or_else(|| invalid("bad padding".into()))
}

/// A header field as a literal without indexing, new name, no Huffman (RFC 7541 §6.2.2).
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    for text in [name, value] {
        integer(out, 0x00, 7, text.len());
        out.extend_from_slice(text.as_bytes());
    }
}

/// An HPACK integer with an `n`-bit prefix, `flags` in the bits above it (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | u8::try_from(value).unwrap_or(0));
        return;
    }
    out.push(flags | u8::try_from(max).unwrap_or(0));
    let mut rest = value - max;
    while rest >= 128 {
        out.push(u8::try_from(rest % 128).unwrap_or(0) | 0x80);
        rest /= 128;
    }
    out.push(u8::try_from(rest).unwrap_or(0));
}

/// `:status` when it is the first field of the block, as servers send it: an indexed
/// static entry (8-14) or a literal whose name is static entry 8.
fn status(block: &[u8]) -> Option<u16> {
    let (&first, rest) = block.split_first()?;
    let statics = [200, 204, 206, 304, 400, 404, 500];
    if first & 0x80 != 0 {
        let index = usize::from(first & 0x7f);
        return statics.get(index.checked_sub(8)?).copied();
    }
    // 01xxxxxx (with indexing), 0000xxxx (without), 0001xxxx (never indexed): name index 8.
    let name_index = if first & 0xc0 == 0x40 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    if name_index != 8 {
        return None;
    }
    let (&len_byte, value) = rest.split_first()?;
    let len = usize::from(len_byte & 0x7f);
    let value = value.get(..len)?;
    let text = if len_byte & 0x80 != 0 {
        huffman_digits(value)?
    } else {
        String::from_utf8(value.to_vec()).ok()?
    };
    text.parse().ok()
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 Appendix B: `0`-`2` have
/// 5-bit codes 00000-00010, `3`-`9` 6-bit codes 011001-011111); the padding is 1 bits.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut at = 0;
    while at < bits.len() {
        let rest = bits.get(at..)?;
        if rest.len() < 8 && rest.iter().all(|&b| b == 1) {
            break;
        }
        let code = |n: usize| -> Option<u8> {
            rest.get(..n)
                .map(|b| b.iter().fold(0u8, |acc, bit| acc << 1 | bit))
        };
        match code(5)? {
            0..=2 => {
                out.push(char::from(b'0' + code(5)?));
                at += 5;
            }
            _ => match code(6)? {
                25..=31 => {
                    out.push(char::from(b'0' + code(6)? - 22));
                    at += 6;
                }
                _ => return None,
            },
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decode_from_the_static_table_and_from_huffman_literals() {
        assert_eq!(status(&[0x88]), Some(200));
        assert_eq!(status(&[0x8d]), Some(404));
        // "401" Huffman-coded: 011010 00000 00001 = 0x68 0x01.
        assert_eq!(status(&[0x48, 0x82, 0x68, 0x01]), Some(401));
        // "503": 011011 00000 011001 and seven 1 bits of padding.
        assert_eq!(status(&[0x48, 0x83, 0x6c, 0x0c, 0xff]), Some(503));
        assert_eq!(status(&[0x08, 0x03, b'4', b'0', b'3']), Some(403));
    }

    #[test]
    fn long_values_use_multi_byte_integers() {
        let mut out = Vec::new();
        integer(&mut out, 0, 7, 1337);
        assert_eq!(out, [0x7f, 0xba, 0x09]);
    }
}
