//! The documents crate's integration tests, one binary (a module per topic) so that CI builds and
//! links them once: a library's endpoints without HTTP (`library`), changes racing listings,
//! rescans and metadata (`races`), and thumbnails (`thumbnail`); `support` is what they share.

mod library;
mod races;
mod support;
mod thumbnail;
