#![no_main]
// See `fuzz/src/lib.rs` for what the target checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| claimcheck_fuzz::config(data));
