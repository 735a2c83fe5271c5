//! Integration tests of the docbridge server over real HTTP on 127.0.0.1: every endpoint of the
//! Document Webhooks contract (C1–C3, C6–C21), the signed links (C8) and the command line (C2).
//! Each test boots its own server on a temporary data directory (see `support`).

mod actions;
mod auth;
mod browse;
mod changes;
mod cli;
mod doctor;
mod download;
mod errors;
mod links;
mod search;
mod service_info;
mod support;
mod thumbnail;
mod upload;
