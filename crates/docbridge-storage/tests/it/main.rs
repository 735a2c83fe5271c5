//! The storage crate's integration tests, one binary (a module per topic) so that CI builds and
//! links them once: the conformance suite over every adapter (`conformance`), the filesystem
//! adapter's own promises (`fs`), the S3 adapter's (`s3`, with feature `s3`), and the suite's
//! power to catch broken adapters (`suite_catches_bugs`).

mod conformance;
mod fs;
#[cfg(feature = "s3")]
mod s3;
mod suite_catches_bugs;
