//! One slot of the shared introspection cache: which token it is about (by digest) and where
//! that token stands — a call in flight, an answer, or a failure — until when.
//!
//! Format (version 1): a version line, then one line of JSON. A VM that cannot read a slot
//! (another version, corrupt, oversized) treats it as free: it may take it for its own token,
//! and uses nothing from it.

use std::fmt::Write as _;
use std::rc::Rc;

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::answer::MAX_ANSWER_BYTES;

/// Why a call gave no answer (kept in a slot as a cached failure, hence defined here). Stable codes: metric labels and log fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallFailure {
    /// The host refused to dispatch the call (unknown cluster).
    DispatchFailed,
    /// No answer within the timeout (Envoy's router answered with its own 504).
    Timeout,
    /// The connection was reset or refused.
    Reset,
    /// A status other than 200.
    HttpStatus,
    /// A body larger than [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// A 200 whose body is not an introspection answer.
    BadAnswer,
}

impl CallFailure {
    pub fn code(self) -> &'static str {
        match self {
            CallFailure::DispatchFailed => "dispatch_failed",
            CallFailure::Timeout => "timeout",
            CallFailure::Reset => "reset",
            CallFailure::HttpStatus => "http_status",
            CallFailure::TooLarge => "too_large",
            CallFailure::BadAnswer => "bad_answer",
        }
    }
}

/// The first line of every slot this version writes.
const FORMAT_LINE: &[u8] = b"claimcheck-introspection 1\n";

/// The largest slot read: the largest answer plus room for the digest, state and times.
pub const MAX_SLOT_BYTES: usize = MAX_ANSWER_BYTES + 1024;

/// The SHA-256 of a token: the only thing about a token claimcheck keeps. A slot never holds
/// the token, so shared data (readable by every VM of the process) leaks no credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        TokenDigest(bytes)
    }

    /// The slot this token's state lives in, among `slots` (at least 1).
    pub fn slot(&self, slots: u32) -> u32 {
        let [a, b, c, d, ..] = self.0;
        u32::from_be_bytes([a, b, c, d]) % slots.max(1)
    }

    fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    fn from_hex(text: &str) -> Option<TokenDigest> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(TokenDigest(bytes))
    }
}

/// One slot's content.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotEntry {
    pub token: TokenDigest,
    pub state: SlotState,
}

/// Where the slot's token stands. Every state ends at `until_ms`; after it the slot is free.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotState {
    /// A VM (`owner`) holds the lease and is calling the server; others wait. The lease
    /// expires on its own, so a VM that dies mid-call blocks the token only that long.
    Pending { owner: u64, until_ms: u64 },
    /// `active: true`, with the answer's members (shared, not copied, by every request that
    /// reads this slot in a VM).
    Active {
        until_ms: u64,
        claims: Rc<Map<String, Value>>,
    },
    /// `active: false`, remembered briefly.
    Inactive { until_ms: u64 },
    /// The last call failed; requests meanwhile get the outage behaviour without a call, so
    /// a failing server is not asked once per request.
    Failed { until_ms: u64, failure: CallFailure },
}

impl SlotState {
    pub fn until_ms(&self) -> u64 {
        match self {
            SlotState::Pending { until_ms, .. }
            | SlotState::Active { until_ms, .. }
            | SlotState::Inactive { until_ms }
            | SlotState::Failed { until_ms, .. } => *until_ms,
        }
    }

    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms()
    }
}

/// The JSON line, as written.
#[derive(Serialize, Deserialize)]
struct Wire {
    token: String,
    #[serde(flatten)]
    state: WireState,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum WireState {
    Pending {
        owner: u64,
        until_ms: u64,
    },
    Active {
        until_ms: u64,
        claims: Map<String, Value>,
    },
    Inactive {
        until_ms: u64,
    },
    Failed {
        until_ms: u64,
        failure: CallFailure,
    },
}

impl SlotEntry {
    /// Decodes a slot; `None` (a free slot) for anything but a well-formed slot of this
    /// format version within the size bound.
    pub fn decode(bytes: &[u8]) -> Option<SlotEntry> {
        if bytes.len() > MAX_SLOT_BYTES {
            return None;
        }
        let json = bytes.strip_prefix(FORMAT_LINE)?;
        let wire: Wire = serde_json::from_slice(json).ok()?;
        let token = TokenDigest::from_hex(&wire.token)?;
        let state = match wire.state {
            WireState::Pending { owner, until_ms } => SlotState::Pending { owner, until_ms },
            WireState::Active { until_ms, claims } => SlotState::Active {
                until_ms,
                claims: Rc::new(claims),
            },
            WireState::Inactive { until_ms } => SlotState::Inactive { until_ms },
            WireState::Failed { until_ms, failure } => SlotState::Failed { until_ms, failure },
        };
        Some(SlotEntry { token, state })
    }

    pub fn encode(&self) -> Vec<u8> {
        let state = match &self.state {
            SlotState::Pending { owner, until_ms } => WireState::Pending {
                owner: *owner,
                until_ms: *until_ms,
            },
            SlotState::Active { until_ms, claims } => WireState::Active {
                until_ms: *until_ms,
                claims: Map::clone(claims),
            },
            SlotState::Inactive { until_ms } => WireState::Inactive {
                until_ms: *until_ms,
            },
            SlotState::Failed { until_ms, failure } => WireState::Failed {
                until_ms: *until_ms,
                failure: *failure,
            },
        };
        let wire = Wire {
            token: self.token.hex(),
            state,
        };
        let mut out = FORMAT_LINE.to_vec();
        match serde_json::to_writer(&mut out, &wire) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }
}
