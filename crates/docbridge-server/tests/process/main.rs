//! Tests of the docbridge server as a process: the real `docbridge` binary started, killed,
//! signalled and scaled out (with PostgreSQL, S3 and Pebble when the environment names them),
//! and the two tests that own something process-wide (the global tracing subscriber, the
//! metrics recorder and its upload gauge), kept away from the in-process crowd of `tests/it/`.

#[path = "../support/mod.rs"]
mod support;

mod cancellation;
mod cli_public_url;
mod lifecycle;
mod metrics;
mod remote_login;
mod scale_out;
mod tls;
mod validate_self;
