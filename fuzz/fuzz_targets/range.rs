//! Fuzz target: `Range` headers (`parse_range`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| docbridge_fuzz::range(data));
