//! Fuzz target: configuration files (`Config::load`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| docbridge_fuzz::config(data));
