//! Fuzz target: arbitrary calls to every endpoint of the router, in process (see `RouterTarget`).
#![no_main]

use std::sync::Mutex;

use docbridge_fuzz::RouterTarget;
use libfuzzer_sys::fuzz_target;

/// One router (runtime and memory-backed state) for the whole run: building it per input would
/// spend the run on setup.
static TARGET: Mutex<Option<RouterTarget>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut target = TARGET.lock().unwrap_or_else(|e| e.into_inner());
    target.get_or_insert_with(RouterTarget::new).run(data);
});
