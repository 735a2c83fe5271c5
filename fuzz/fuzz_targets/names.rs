//! Fuzz target: names and IDs: `validate_name`, `ItemId::parse`, `parse_count`, `content_disposition`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| docbridge_fuzz::names(data));
