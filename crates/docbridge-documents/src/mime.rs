//! Media types of stored files: detection (contract C7), full-text eligibility, icon category.
//!
//! The extension is trusted first because it is what the user chose and what Workfront shows;
//! the content's magic bytes only fill in when the name says nothing useful.

/// What every detection falls back to when neither the name nor the content says anything.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Media type of a file, per contract C7.
///
/// 1. the first guess for the file name's extension (case-insensitive), unless that guess is
///    `application/octet-stream` (as for `.bin`), which says nothing;
/// 2. otherwise the type recognised from the magic bytes in `head` (the first few KiB of the
///    content; an empty slice is fine);
/// 3. otherwise `application/octet-stream`.
///
/// The result is a bare essence such as `image/png`, without parameters.
pub fn detect_mime(file_name: &str, head: &[u8]) -> String {
    if let Some(guess) = mime_guess::from_path(file_name).first_raw()
        && !guess.eq_ignore_ascii_case(OCTET_STREAM)
    {
        return guess.to_ascii_lowercase();
    }
    match infer::get(head) {
        Some(kind) => kind.mime_type().to_owned(),
        None => OCTET_STREAM.to_owned(),
    }
}

/// Lower-cased essence of a media type: `Text/HTML; charset=utf-8` becomes `text/html`.
fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Application subtypes (after `application/`, with any `x-` prefix removed) whose content is
/// human-readable text.
const TEXT_APPLICATION_SUBTYPES: &[&str] = &[
    "json",
    "xml",
    "javascript",
    "ecmascript",
    "typescript",
    "yaml",
    "toml",
    "csv",
    "markdown",
    "sql",
    "sh",
    "csh",
    "bash",
    "zsh",
    "httpd-php",
    "php",
    "perl",
    "python",
    "ruby",
    "tex",
    "latex",
    "graphql",
    "ndjson",
    "jsonl",
    "x-ndjson",
    "rtf",
    "subrip",
    "troff",
    "diff",
    "patch",
    "ini",
    "properties",
];

/// Whether content of this type is worth indexing for full-text search: `text/*` and the
/// textual `application/*` types (JSON, XML, JavaScript, YAML, CSV, Markdown, SQL, shell
/// scripts and the like, including any `+json`/`+xml` structured suffix).
///
/// Images, audio, video and fonts are never text-like even with an `+xml` suffix: an SVG's
/// text is path data, not words anyone searches for.
pub fn is_text_like(mime: &str) -> bool {
    let mime = essence(mime);
    let Some((top, sub)) = mime.split_once('/') else {
        return false;
    };
    match top {
        "text" => true,
        "application" => {
            let sub = sub.strip_prefix("x-").unwrap_or(sub);
            TEXT_APPLICATION_SUBTYPES.contains(&sub)
                || sub.ends_with("+json")
                || sub.ends_with("+xml")
                || sub.ends_with("+yaml")
        }
        _ => false,
    }
}

/// Which picture a file gets when it has no thumbnail of its own content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconCategory {
    /// Word-processor documents (Word, OpenDocument text, RTF, Pages, EPUB).
    Document,
    /// Spreadsheets and tabular text (Excel, OpenDocument spreadsheet, CSV, TSV, Numbers).
    Spreadsheet,
    /// Slide decks (PowerPoint, OpenDocument presentation, Keynote).
    Presentation,
    /// PDF documents whose first page could not be rendered.
    Pdf,
    /// Images that could not be decoded (or formats not scaled, such as SVG or HEIC).
    Image,
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Compressed archives and bundles.
    Archive,
    /// Prose and plain text (plain text, Markdown).
    Text,
    /// Source code, scripts and structured data (JSON, XML, YAML, HTML, CSS, SQL...).
    Code,
    /// Anything else.
    Generic,
}

/// Application subtypes that are archives (after `application/`).
const ARCHIVE_SUBTYPES: &[&str] = &[
    "zip",
    "x-zip-compressed",
    "gzip",
    "x-gzip",
    "x-tar",
    "x-gtar",
    "x-bzip",
    "x-bzip2",
    "x-7z-compressed",
    "x-rar-compressed",
    "vnd.rar",
    "x-rar",
    "x-xz",
    "zstd",
    "x-zstd",
    "x-compress",
    "x-lzip",
    "x-lzma",
    "x-lz4",
    "java-archive",
    "x-archive",
    "x-cpio",
    "x-apple-diskimage",
    "x-iso9660-image",
    "vnd.debian.binary-package",
    "x-rpm",
];

/// Application subtypes that are source code or structured data (after `application/`).
const CODE_SUBTYPES: &[&str] = &[
    "json",
    "xml",
    "javascript",
    "x-javascript",
    "ecmascript",
    "typescript",
    "x-typescript",
    "x-sh",
    "x-csh",
    "x-shellscript",
    "sql",
    "x-sql",
    "x-httpd-php",
    "x-php",
    "x-perl",
    "x-python",
    "x-ruby",
    "yaml",
    "x-yaml",
    "toml",
    "x-toml",
    "graphql",
    "wasm",
    "x-tex",
    "x-latex",
];

/// Text subtypes that are code or markup rather than prose (after `text/`).
const CODE_TEXT_SUBTYPES: &[&str] = &[
    "html",
    "css",
    "javascript",
    "ecmascript",
    "xml",
    "x-yaml",
    "yaml",
    "x-toml",
    "toml",
    "x-sh",
    "x-shellscript",
    "x-sql",
];

/// The icon category for a media type. Parameters and case are ignored.
pub fn icon_category(mime: &str) -> IconCategory {
    let mime = essence(mime);
    let Some((top, sub)) = mime.split_once('/') else {
        return IconCategory::Generic;
    };
    match top {
        "image" => return IconCategory::Image,
        "audio" => return IconCategory::Audio,
        "video" => return IconCategory::Video,
        _ => {}
    }
    if mime == "application/pdf" || mime == "application/x-pdf" {
        return IconCategory::Pdf;
    }
    if sub.contains("spreadsheet")
        || sub.starts_with("vnd.ms-excel")
        || matches!(
            mime.as_str(),
            "text/csv" | "application/csv" | "text/tab-separated-values" | "application/vnd.apple.numbers"
        )
    {
        return IconCategory::Spreadsheet;
    }
    if sub.contains("presentation") || sub.starts_with("vnd.ms-powerpoint") || mime == "application/vnd.apple.keynote" {
        return IconCategory::Presentation;
    }
    if sub.contains("wordprocessingml")
        || sub.starts_with("vnd.oasis.opendocument.text")
        || sub.starts_with("vnd.ms-word")
        || matches!(
            mime.as_str(),
            "application/msword"
                | "application/rtf"
                | "text/rtf"
                | "application/vnd.apple.pages"
                | "application/epub+zip"
                | "application/x-abiword"
        )
    {
        return IconCategory::Document;
    }
    match top {
        "application" if ARCHIVE_SUBTYPES.contains(&sub) => IconCategory::Archive,
        "application" if CODE_SUBTYPES.contains(&sub) => IconCategory::Code,
        "application" if sub.ends_with("+json") || sub.ends_with("+xml") => IconCategory::Code,
        // `text/x-rust`, `text/x-python`, `text/x-c`... are languages; `text/x-markdown` is prose.
        "text" if CODE_TEXT_SUBTYPES.contains(&sub) => IconCategory::Code,
        "text" if sub.starts_with("x-") && !sub.contains("markdown") => IconCategory::Code,
        "text" => IconCategory::Text,
        _ if is_text_like(&mime) => IconCategory::Text,
        _ => IconCategory::Generic,
    }
}

/// Extensions that `mime_guess` maps to `text/plain` (or to something unrelated, like
/// `.ts` to MPEG transport stream) but that name source code.
const CODE_EXTENSIONS: &[&str] = &[
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "py",
    "pyi",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "swift",
    "rb",
    "php",
    "pl",
    "pm",
    "lua",
    "r",
    "cs",
    "fs",
    "ts",
    "tsx",
    "jsx",
    "mjs",
    "cjs",
    "vue",
    "svelte",
    "dart",
    "ex",
    "exs",
    "erl",
    "hs",
    "ml",
    "clj",
    "zig",
    "nim",
    "sql",
    "ps1",
    "bat",
    "cmd",
    "gradle",
    "cmake",
    "mk",
    "dockerfile",
    "tf",
    "proto",
];

/// The icon category for a file, refining [`icon_category`] by the name's extension where the
/// media type alone is too vague: `mime_guess` calls `.py` and `.c` `text/plain` and `.ts`
/// a video, yet they deserve the code icon.
pub fn icon_category_for_file(file_name: &str, mime: &str) -> IconCategory {
    let by_mime = icon_category(mime);
    let extension = file_name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase());
    let is_code_extension = extension.as_deref().is_some_and(|ext| CODE_EXTENSIONS.contains(&ext));
    // `.ts` is guessed as an MPEG transport stream; only that guess may give way to the code
    // extension, never a video type detected some other way.
    let overridable = match by_mime {
        IconCategory::Text | IconCategory::Generic => true,
        IconCategory::Video => matches!(essence(mime).as_str(), "video/vnd.dlna.mpeg-tts" | "video/mp2t"),
        _ => false,
    };
    if overridable && is_code_extension { IconCategory::Code } else { by_mime }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_head() -> Vec<u8> {
        let mut head = b"\x89PNG\r\n\x1a\n".to_vec();
        head.extend_from_slice(&[0, 0, 0, 13]);
        head.extend_from_slice(b"IHDR");
        head.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
        head
    }

    #[test]
    fn extension_wins() {
        assert_eq!(detect_mime("report.pdf", b""), "application/pdf");
        assert_eq!(detect_mime("Photo.JPG", b""), "image/jpeg");
        assert_eq!(detect_mime("notes.md", b""), "text/markdown");
        // The extension is trusted over the content.
        assert_eq!(detect_mime("picture.txt", &png_head()), "text/plain");
        assert_eq!(
            detect_mime("deck.pptx", b""),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        );
    }

    #[test]
    fn magic_bytes_fill_in_for_unknown_or_uninformative_extensions() {
        assert_eq!(detect_mime("blob.bin", &png_head()), "image/png");
        assert_eq!(detect_mime("blob.zzzunknown", &png_head()), "image/png");
        assert_eq!(detect_mime("README", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), "application/pdf");
        assert_eq!(detect_mime("noext", b"GIF89a\x01\x00\x01\x00"), "image/gif");
    }

    #[test]
    fn falls_back_to_octet_stream() {
        assert_eq!(detect_mime("blob.bin", b"\x00\x01\x02\x03garbage"), OCTET_STREAM);
        assert_eq!(detect_mime("noext", b""), OCTET_STREAM);
        assert_eq!(detect_mime("", b"plain words"), OCTET_STREAM);
    }

    #[test]
    fn text_like_types() {
        for mime in [
            "text/plain",
            "text/markdown",
            "text/csv",
            "text/html; charset=utf-8",
            "TEXT/X-RUST",
            "application/json",
            "application/ld+json",
            "application/xml",
            "application/atom+xml",
            "application/javascript",
            "application/x-yaml",
            "application/x-sh",
            "application/x-sql",
            "application/sql",
        ] {
            assert!(is_text_like(mime), "{mime} should be text-like");
        }
        for mime in [
            "image/png",
            "image/svg+xml",
            "application/pdf",
            "application/octet-stream",
            "application/zip",
            "video/mp4",
            "",
            "garbage",
        ] {
            assert!(!is_text_like(mime), "{mime} should not be text-like");
        }
    }

    #[test]
    fn icon_categories() {
        use IconCategory::*;
        let cases = [
            ("application/pdf", Pdf),
            ("image/png", Image),
            ("image/svg+xml", Image),
            ("audio/mpeg", Audio),
            ("video/mp4", Video),
            ("application/zip", Archive),
            ("application/x-7z-compressed", Archive),
            ("application/msword", Document),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", Document),
            ("application/vnd.oasis.opendocument.text", Document),
            ("application/vnd.ms-excel", Spreadsheet),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Spreadsheet),
            ("text/csv", Spreadsheet),
            ("application/vnd.ms-powerpoint", Presentation),
            ("application/vnd.openxmlformats-officedocument.presentationml.presentation", Presentation),
            ("text/plain", Text),
            ("text/markdown", Text),
            ("text/x-markdown", Text),
            ("text/x-rust", Code),
            ("text/html", Code),
            ("application/json", Code),
            ("application/x-sh", Code),
            ("application/octet-stream", Generic),
            ("", Generic),
        ];
        for (mime, expected) in cases {
            assert_eq!(icon_category(mime), expected, "{mime}");
        }
    }

    #[test]
    fn file_names_refine_vague_types() {
        use IconCategory::*;
        assert_eq!(icon_category_for_file("main.py", "text/plain"), Code);
        assert_eq!(icon_category_for_file("app.ts", &detect_mime("app.ts", b"")), Code);
        assert_eq!(icon_category_for_file("notes.txt", "text/plain"), Text);
        // A real video type is never overridden by the name.
        assert_eq!(icon_category_for_file("clip.ts", "video/mp4"), Video);
        assert_eq!(icon_category_for_file("photo.png", "image/png"), Image);
    }
}
