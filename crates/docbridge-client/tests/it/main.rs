//! The client crate's integration tests, one binary (a module per topic) so that CI builds and
//! links them once: the typed client and file commands (`client`), the OAuth2 refresh flow
//! (`oauth_refresh`, with feature `cli`) and the validator (`validate`, with feature
//! `validate`), all against the in-memory provider of `support`.

mod client;
#[cfg(feature = "cli")]
mod oauth_refresh;
mod support;
#[cfg(feature = "validate")]
mod validate;
