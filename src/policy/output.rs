//! What an accepted token adds to the request: claims copied into headers and the
//! payload header.

use crate::claims::ClaimPath;
use serde_json::{Map, Value};

/// Longest identity header value set. Envoy's default request-header budget is 60 KiB
/// for all headers; 8 KiB per value keeps a large `groups` claim from using it up.
/// Longer values are skipped, not cut: a truncated group list would misinform the
/// upstream about who the caller is.
pub const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;

/// One `claims_to_headers` entry, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderOutput {
    pub claim: ClaimPath,
    /// Lowercase.
    pub header: String,
    /// Separator for array claims.
    pub join: String,
}

/// Headers to set, and the ones left out with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputPlan {
    pub set: Vec<(String, String)>,
    pub skipped: Vec<SkippedHeader>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedHeader {
    pub header: String,
    pub reason: HeaderSkipReason,
}

/// Why a claim was not copied into its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderSkipReason {
    /// The claim is `null`.
    Null,
    /// The value holds CR, LF, NUL or another control character: copied verbatim it
    /// would split or corrupt the header block (RFC 9110 §5.5 field-value).
    InvalidCharacter,
    /// Longer than [`MAX_HEADER_VALUE_LEN`].
    TooLong,
    /// An element of an array claim holds the join separator: joined, `["viewers;admin"]`
    /// would read upstream as two values, `viewers` and `admin`. The header is left out
    /// rather than the element escaped, since no upstream would know to unescape it.
    SeparatorInValue,
}

/// The identity headers of one provider (its `claims_to_headers` and `payload_header`)
/// given a verified token's claims. `payload_segment` is the token's second (base64url
/// payload) segment, forwarded as is in `payload_header`, as Envoy's `jwt_authn`
/// `forward_payload_header` does.
pub fn output_plan(
    outputs: &[HeaderOutput],
    payload_header: Option<&str>,
    claims: &Map<String, Value>,
    payload_segment: Option<&str>,
) -> OutputPlan {
    let mut plan = OutputPlan::default();
    for output in outputs {
        let Some(value) = output.claim.lookup(claims) else {
            continue;
        };
        match render_claim(value, &output.join) {
            Ok(text) => plan.set.push((output.header.clone(), text)),
            Err(reason) => plan.skipped.push(SkippedHeader {
                header: output.header.clone(),
                reason,
            }),
        }
    }
    if let (Some(header), Some(payload)) = (payload_header, payload_segment) {
        match check_value(payload.to_owned()) {
            Ok(text) => plan.set.push((header.to_owned(), text)),
            Err(reason) => plan.skipped.push(SkippedHeader {
                header: header.to_owned(),
                reason,
            }),
        }
    }
    plan
}

/// A claim as header text: scalars as text, arrays joined, objects as JSON. A scalar is
/// copied as is (`join` separates array elements only); an array element holding `join` is
/// refused (the caller guarantees a non-empty `join`).
pub fn render_claim(value: &Value, join: &str) -> Result<String, HeaderSkipReason> {
    let text = match value {
        Value::Null => return Err(HeaderSkipReason::Null),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter(|item| !item.is_null())
                .map(scalar_text)
                .collect();
            if parts.iter().any(|part| part.contains(join)) {
                return Err(HeaderSkipReason::SeparatorInValue);
            }
            parts.join(join)
        }
        other => scalar_text(other),
    };
    check_value(text)
}

impl HeaderSkipReason {
    /// A stable code for logs and `explain --json`.
    pub fn code(self) -> &'static str {
        match self {
            HeaderSkipReason::Null => "null",
            HeaderSkipReason::InvalidCharacter => "invalid_character",
            HeaderSkipReason::TooLong => "too_long",
            HeaderSkipReason::SeparatorInValue => "separator_in_value",
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check_value(text: String) -> Result<String, HeaderSkipReason> {
    if text.len() > MAX_HEADER_VALUE_LEN {
        return Err(HeaderSkipReason::TooLong);
    }
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeaderSkipReason::InvalidCharacter);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_render_as_header_text() {
        let cases = [
            (json!("alice"), ",", "alice"),
            (json!(42), ",", "42"),
            (json!(1.5), ",", "1.5"),
            (json!(true), ",", "true"),
            (json!(["a", "b", 3]), ",", "a,b,3"),
            (json!(["a", null, "b"]), " ", "a b"),
            (json!([]), ",", ""),
            (json!({"tier": 2}), ",", "{\"tier\":2}"),
            (json!([{"a": 1}]), ";", "{\"a\":1}"),
            (json!("a,b"), ",", "a,b"),
        ];
        for (value, join, want) in cases {
            assert_eq!(render_claim(&value, join), Ok(want.to_owned()), "{value}");
        }
    }

    #[test]
    fn unsafe_or_oversized_values_are_skipped_with_a_reason() {
        let cases = [
            (json!(null), HeaderSkipReason::Null),
            (json!("a\r\nx-admin: 1"), HeaderSkipReason::InvalidCharacter),
            (json!("a\nb"), HeaderSkipReason::InvalidCharacter),
            (json!("a\u{0}b"), HeaderSkipReason::InvalidCharacter),
            (json!(["ok", "bad\r"]), HeaderSkipReason::InvalidCharacter),
            (
                json!("x".repeat(MAX_HEADER_VALUE_LEN + 1)),
                HeaderSkipReason::TooLong,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(render_claim(&value, ","), Err(want), "{value}");
        }
    }

    #[test]
    fn an_array_element_holding_the_separator_is_refused() {
        let cases = [
            (json!(["viewers;tenant-admin"]), ";"),
            (json!(["viewers", "a;b"]), ";"),
            (json!(["a", "b, c"]), ", "),
            (json!([{"a": 1, "b": 2}]), ","),
        ];
        for (value, join) in cases {
            assert_eq!(
                render_claim(&value, join),
                Err(HeaderSkipReason::SeparatorInValue),
                "{value} joined with {join:?}"
            );
        }
        assert_eq!(
            render_claim(&json!(["a,b", "c"]), ";"),
            Ok("a,b;c".to_owned())
        );
    }

    #[test]
    fn tabs_and_non_ascii_text_are_kept() {
        assert_eq!(render_claim(&json!("a\tb é"), ","), Ok("a\tb é".to_owned()));
    }
}
