//! Fuzz target: lenient metadata JSON (`ItemMetadata`), read and written back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| docbridge_fuzz::metadata(data));
