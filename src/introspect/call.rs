//! The introspection request (RFC 7662 §2.1): what is sent, built without the host so the
//! exact bytes are tested natively.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt::Write as _;

/// How claimcheck authenticates to the introspection endpoint (RFC 7662 §2.1: the endpoint
/// MUST require some form of authorization, so the token cannot be probed by anyone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    Basic {
        client_id: String,
        client_secret: String,
    },
    /// A bearer token of claimcheck's own, issued for calling the endpoint.
    Bearer { token: String },
}

impl ClientAuth {
    /// The `authorization` header value, computed once with the configuration. RFC 6749
    /// §2.3.1: the client id and secret are form-encoded before they are joined by `:` and
    /// base64-encoded, so a `:` in the id cannot shift the split.
    pub fn header_value(&self) -> String {
        match self {
            ClientAuth::Basic {
                client_id,
                client_secret,
            } => {
                let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
                format!("Basic {}", STANDARD.encode(pair))
            }
            ClientAuth::Bearer { token } => format!("Bearer {token}"),
        }
    }
}

/// The form-encoded body: `token=...&token_type_hint=access_token`.
pub fn body(token: &str) -> Vec<u8> {
    let mut body = String::with_capacity(token.len() + 40);
    body.push_str("token=");
    body.push_str(&form_encode(token));
    body.push_str("&token_type_hint=access_token");
    body.into_bytes()
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5.2): unreserved bytes as themselves,
/// space as `+`, everything else percent-encoded. A token holding `&` or `=` can never add a
/// parameter of its own.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_token_and_hints_an_access_token() {
        assert_eq!(
            body("2YotnFZFEjr1zCsicMWpAA"),
            b"token=2YotnFZFEjr1zCsicMWpAA&token_type_hint=access_token".to_vec()
        );
    }

    #[test]
    fn a_token_cannot_add_a_parameter() {
        assert_eq!(
            body("a&token_type_hint=refresh_token b"),
            b"token=a%26token_type_hint%3Drefresh_token+b&token_type_hint=access_token".to_vec()
        );
    }

    #[test]
    fn a_jwt_is_sent_as_is() {
        assert_eq!(
            body("eyJ.eyJ.sig-_"),
            b"token=eyJ.eyJ.sig-_&token_type_hint=access_token".to_vec()
        );
    }

    /// RFC 6749 §2.3.1 with the example of RFC 7662 §2.1 (`czZCaGRSa3F0MzpnWDFmQmF0M2JW`
    /// is `s6BhdRkqt3:gX1fBat3bV`).
    #[test]
    fn basic_authentication_matches_the_rfc_example() {
        let auth = ClientAuth::Basic {
            client_id: "s6BhdRkqt3".to_owned(),
            client_secret: "gX1fBat3bV".to_owned(),
        };
        assert_eq!(auth.header_value(), "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    }

    #[test]
    fn basic_authentication_form_encodes_the_id_and_secret_first() {
        let auth = ClientAuth::Basic {
            client_id: "svc:a".to_owned(),
            client_secret: "p w".to_owned(),
        };
        let expected = format!("Basic {}", STANDARD.encode("svc%3Aa:p+w"));
        assert_eq!(auth.header_value(), expected);
    }

    #[test]
    fn bearer_authentication_sends_the_configured_token() {
        let auth = ClientAuth::Bearer {
            token: "caller-token".to_owned(),
        };
        assert_eq!(auth.header_value(), "Bearer caller-token");
    }
}
