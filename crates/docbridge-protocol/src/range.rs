//! `Range: bytes=...` request headers (RFC 9110 §14), as `/download` honours them (C11).

/// An inclusive byte range within a representation of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte's offset.
    pub start: u64,
    /// The last byte's offset (inclusive, as in `Content-Range`).
    pub end_inclusive: u64,
}

impl ByteRange {
    /// The number of bytes in the range (never 0).
    pub fn len(&self) -> u64 {
        self.end_inclusive - self.start + 1
    }

    /// Always false: a satisfiable range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value for this range.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end_inclusive, total)
    }
}

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No header, or one we may ignore (another unit, several ranges, bad syntax): send it all.
    Full,
    /// One satisfiable range: answer 206.
    Partial(ByteRange),
    /// A well-formed single range that lies wholly outside the representation: answer 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a representation of `len` bytes. Several ranges are served as
/// the full representation, which RFC 9110 allows and which keeps responses single-part.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) if digits(last) => match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if len == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Partial(ByteRange { start: len.saturating_sub(n), end_inclusive: len - 1 }),
            Err(_) => RangeRequest::Full,
        },
        // bytes=A- and bytes=A-B.
        (false, _) if digits(first) && (last.is_empty() || digits(last)) => {
            let Ok(start) = first.parse::<u64>() else { return RangeRequest::Full };
            let end = if last.is_empty() { None } else { last.parse::<u64>().ok() };
            if !last.is_empty() && end.is_none() {
                // An end too large to parse still means "to the end".
                return if start < len {
                    RangeRequest::Partial(ByteRange { start, end_inclusive: len - 1 })
                } else {
                    RangeRequest::Unsatisfiable
                };
            }
            if end.is_some_and(|end| end < start) {
                return RangeRequest::Full;
            }
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end_inclusive = end.map_or(len - 1, |end| end.min(len - 1));
            RangeRequest::Partial(ByteRange { start, end_inclusive })
        }
        _ => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn partial(start: u64, end_inclusive: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end_inclusive })
    }

    #[test]
    fn examples() {
        let check = |h: Option<&str>, len, want| assert_eq!(parse_range(h, len), want, "{h:?} of {len}");
        check(None, 10, RangeRequest::Full);
        check(Some("bytes=0-4"), 10, partial(0, 4));
        check(Some("bytes=5-"), 10, partial(5, 9));
        check(Some("bytes=-3"), 10, partial(7, 9));
        check(Some("bytes=-30"), 10, partial(0, 9));
        check(Some("bytes=8-100"), 10, partial(8, 9));
        check(Some("bytes=10-"), 10, RangeRequest::Unsatisfiable);
        check(Some("bytes=0-0"), 0, RangeRequest::Unsatisfiable);
        check(Some("bytes=-0"), 10, RangeRequest::Unsatisfiable);
        check(Some("bytes=5-2"), 10, RangeRequest::Full);
        check(Some("bytes=0-1,3-4"), 10, RangeRequest::Full);
        check(Some("items=0-1"), 10, RangeRequest::Full);
        check(Some("bytes=a-b"), 10, RangeRequest::Full);
        check(Some("bytes=0-99999999999999999999999"), 10, partial(0, 9));
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_in_bounds(header in "\\PC{0,40}", len in 0u64..10_000) {
            if let RangeRequest::Partial(r) = parse_range(Some(&header), len) {
                prop_assert!(r.start <= r.end_inclusive && r.end_inclusive < len);
            }
        }

        #[test]
        fn well_formed_ranges(len in 1u64..10_000, a in 0u64..10_000, b in 0u64..10_000) {
            let (start, end) = (a.min(b), a.max(b));
            let got = parse_range(Some(&format!("bytes={start}-{end}")), len);
            if start >= len {
                prop_assert_eq!(got, RangeRequest::Unsatisfiable);
            } else {
                prop_assert_eq!(got, partial(start, end.min(len - 1)));
            }
        }
    }
}
