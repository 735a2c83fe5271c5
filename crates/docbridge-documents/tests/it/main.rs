//! The documents crate's integration tests, one binary (a module per topic) so that CI builds and
//! links them once: a library's endpoints without HTTP (`library`), changes racing listings,
//! rescans and metadata (`races`), and thumbnails (`thumbnail`); `support` is what they share,
//! `png_bomb` what `thumbnail` shares with the crate's unit tests, `pdf` what it shares with the
//! server's tests.

mod library;
mod pdf;
mod png_bomb;
mod races;
mod support;
mod thumbnail;
