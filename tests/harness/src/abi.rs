//! Proxy-wasm ABI 0.2.1 constants and the serialized-pairs encoding.
//!
//! Values come from the ABI specification (`abi-versions/v0.2.1`) and match the Rust SDK's
//! `types.rs`; the module and the host must agree on every number here.

/// Result of a host call, as the module sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    BrokenConnection = 11,
    Unimplemented = 12,
}

impl Status {
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}

/// What a stream callback tells the host: go on, or hold the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

impl Action {
    pub(crate) fn from_raw(raw: i32) -> Self {
        // The SDK returns 0 or 1; Envoy treats anything but Continue as a stop.
        if raw == 0 {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

/// Severity of a `proxy_log` line (`LogLevel` in the ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub(crate) fn from_raw(raw: i32) -> Option<Self> {
        Some(match raw {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }

    pub(crate) fn raw(self) -> i32 {
        self as i32
    }
}

/// Which header map a host call addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapType {
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseTrailers,
    GrpcInitialMetadata,
    GrpcTrailingMetadata,
    CallResponseHeaders,
    CallResponseTrailers,
}

impl MapType {
    pub(crate) fn from_raw(raw: i32) -> Option<Self> {
        Some(match raw {
            0 => MapType::RequestHeaders,
            1 => MapType::RequestTrailers,
            2 => MapType::ResponseHeaders,
            3 => MapType::ResponseTrailers,
            4 => MapType::GrpcInitialMetadata,
            5 => MapType::GrpcTrailingMetadata,
            6 => MapType::CallResponseHeaders,
            7 => MapType::CallResponseTrailers,
            _ => return None,
        })
    }
}

/// Which buffer a host call addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BufferType {
    RequestBody,
    ResponseBody,
    DownstreamData,
    UpstreamData,
    CallResponseBody,
    GrpcReceive,
    VmConfiguration,
    PluginConfiguration,
    CallData,
}

impl BufferType {
    pub(crate) fn from_raw(raw: i32) -> Option<Self> {
        Some(match raw {
            0 => BufferType::RequestBody,
            1 => BufferType::ResponseBody,
            2 => BufferType::DownstreamData,
            3 => BufferType::UpstreamData,
            4 => BufferType::CallResponseBody,
            5 => BufferType::GrpcReceive,
            6 => BufferType::VmConfiguration,
            7 => BufferType::PluginConfiguration,
            8 => BufferType::CallData,
            _ => return None,
        })
    }
}

/// Kind of a metric defined with `proxy_define_metric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub(crate) fn from_raw(raw: i32) -> Option<Self> {
        Some(match raw {
            0 => MetricKind::Counter,
            1 => MetricKind::Gauge,
            2 => MetricKind::Histogram,
            _ => return None,
        })
    }
}

/// Header pairs in order; names and values are bytes as on the wire.
pub type Headers = Vec<(String, String)>;

/// Encodes pairs the way the ABI passes header maps: a little-endian `u32` count, then a
/// (name length, value length) `u32` pair for each entry, then each name and value followed by
/// a NUL byte.
pub fn encode_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (name, value) in pairs {
        out.extend_from_slice(&len_u32(name.as_ref().len()).to_le_bytes());
        out.extend_from_slice(&len_u32(value.as_ref().len()).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_ref());
        out.push(0);
        out.extend_from_slice(value.as_ref());
        out.push(0);
    }
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Why a serialized pairs blob from the module could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairsError {
    /// The blob ends before the sizes it announces.
    Truncated,
    /// A name or value is not followed by its NUL terminator.
    MissingTerminator,
}

/// One name/value pair as bytes, before any UTF-8 interpretation.
pub type RawPair = (Vec<u8>, Vec<u8>);

/// Decodes the serialized-pairs encoding (see [`encode_pairs`]). An empty blob is an empty map,
/// as the SDK sends for `vec![]`.
pub fn decode_pairs(bytes: &[u8]) -> Result<Vec<RawPair>, PairsError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(bytes, 0)? as usize;
    let mut sizes = Vec::new();
    for index in 0..count {
        let at = 4 + index * 8;
        sizes.push((
            read_u32(bytes, at)? as usize,
            read_u32(bytes, at + 4)? as usize,
        ));
    }
    let mut cursor = 4 + count * 8;
    let mut pairs = Vec::with_capacity(count);
    for (name_len, value_len) in sizes {
        let name = take(bytes, &mut cursor, name_len)?;
        let value = take(bytes, &mut cursor, value_len)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, PairsError> {
    let slice = bytes.get(at..at + 4).ok_or(PairsError::Truncated)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(slice);
    Ok(u32::from_le_bytes(word))
}

fn take(bytes: &[u8], cursor: &mut usize, len: usize) -> Result<Vec<u8>, PairsError> {
    let end = cursor.checked_add(len).ok_or(PairsError::Truncated)?;
    let data = bytes
        .get(*cursor..end)
        .ok_or(PairsError::Truncated)?
        .to_vec();
    if bytes.get(end) != Some(&0) {
        return Err(if end >= bytes.len() {
            PairsError::Truncated
        } else {
            PairsError::MissingTerminator
        });
    }
    *cursor = end + 1;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_through_the_wire_encoding() {
        let pairs = vec![
            (":path".to_string(), "/a".to_string()),
            ("x".to_string(), String::new()),
        ];
        let decoded = decode_pairs(&encode_pairs(&pairs)).unwrap();
        assert_eq!(
            decoded,
            vec![(b":path".to_vec(), b"/a".to_vec()), (b"x".to_vec(), vec![])]
        );
    }

    #[test]
    fn empty_blob_is_an_empty_map() {
        assert_eq!(decode_pairs(&[]).unwrap(), vec![]);
    }

    #[test]
    fn truncated_blob_is_rejected_not_read_past_its_end() {
        let mut blob = encode_pairs(&[("name", "value")]);
        blob.truncate(blob.len() - 3);
        assert_eq!(decode_pairs(&blob), Err(PairsError::Truncated));
    }

    #[test]
    fn value_without_terminator_is_rejected() {
        let mut blob = encode_pairs(&[("a", "b"), ("c", "d")]);
        let last_name_nul = blob.len() - 3;
        blob[last_name_nul] = b'!';
        assert_eq!(decode_pairs(&blob), Err(PairsError::MissingTerminator));
    }
}
