//! JWS compact serialization: decoding and signature verification (in progress).

mod algorithm;

pub use algorithm::{Algorithm, KeyFamily};
