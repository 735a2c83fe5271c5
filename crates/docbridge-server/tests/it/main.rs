//! Integration tests of the docbridge server over real HTTP on 127.0.0.1, each on an in-process
//! server of its own (see `support`): every endpoint of the Document Webhooks contract (C1–C3,
//! C6–C21), the signed links (C8), the command line beside a server (C2), and the server's
//! defences, pages and APIs. One test binary, a module per topic, so CI links the server once for
//! all of them; the tests that start the real binary as a process are in `tests/process/`.

#[path = "../support/mod.rs"]
mod support;

mod actions;
mod admin_page;
mod auth;
mod browse;
mod cache_invalidation;
mod changes;
mod cli;
mod concurrency;
mod doctor;
mod download;
mod errors;
mod fuzz_replay;
mod hardening;
mod limits;
mod links;
mod malicious;
mod oauth;
mod openapi;
mod registry_admin;
mod search;
mod service_info;
mod thumbnail;
mod upload;
