//! A PDF's first page, rendered in pure Rust by `hayro`, on white, at the thumbnail's width.
//!
//! `hayro` has no cancellation, and a hostile PDF (deeply nested forms, huge images) can keep
//! it busy for a long time. So a page is rendered on a thread of its own and the caller waits
//! at most [`PDF_RENDER_DEADLINE`] before serving the PDF icon instead. A render that overruns
//! keeps its thread until it finishes; at most [`MAX_CONCURRENT_RENDERS`] such threads run at
//! once, and while they are all busy further PDFs get the icon immediately, so runaway renders
//! cannot pile up and starve the server. The page size is checked before rendering so that
//! the pixel buffer is bounded by [`super::MAX_OUTPUT_PIXELS`].
//!
//! `hayro` decodes each image a page draws at its full size, and a few MB of PDF can hold an
//! image of billions of pixels (a tiny compressed stream). It has no limit of its own, so before
//! rendering every image in the file (and every inline image of the first page) is looked up,
//! and a PDF with one over [`MAX_PDF_IMAGE_PIXELS`] gets the icon: an overrunning render thread
//! then holds little memory, not gigabytes.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_syntax::Pdf;
use hayro::hayro_syntax::content::ops::TypedInstruction;
use hayro::hayro_syntax::object::{Dict, Object};
use hayro::kurbo::Affine;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::vello_cpu::{Pixmap, RasterizerSettings, RenderContext, Resources, TargetInit};
use hayro::{RenderCache, RenderSettings, render_into};
use image::{RgbImage, RgbaImage};

use super::target_height;

/// Longest a caller waits for a page before serving the PDF icon (by default: see
/// [`super::render_thumbnail_until`]).
pub const PDF_RENDER_DEADLINE: Duration = super::RENDER_DEADLINE;
/// Largest image, in pixels, that a PDF may contain and still be rendered: 25 megapixels, e.g. an
/// A4 page scanned at 400 dpi. `hayro` holds such an image decoded (a few bytes per pixel).
pub const MAX_PDF_IMAGE_PIXELS: u64 = 25_000_000;
/// Most PDF renders running at once, overrunning ones included: one per core here.
pub(super) const MAX_CONCURRENT_RENDERS: usize = 2;
/// Largest PDF rendered. Rendering holds a copy of the file plus its decoded streams, so this
/// bounds memory per render along with the caller's own read limit.
pub(super) const MAX_PDF_BYTES: usize = 64 * 1024 * 1024;
/// Stack of a render thread: the interpreter recurses into nested forms and patterns.
const RENDER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Renders in flight, overrunning ones included.
static RENDERS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Why a PDF got no thumbnail.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PdfError {
    /// Over [`MAX_PDF_BYTES`].
    TooLarge,
    /// `hayro` could not parse it (or it is encrypted).
    Unreadable,
    /// It has no pages.
    NoPages,
    /// It holds an image over [`MAX_PDF_IMAGE_PIXELS`].
    ImageTooLarge { width: u64, height: u64 },
    /// The first page's shape gives a thumbnail over [`super::MAX_OUTPUT_PIXELS`].
    PageTooTall,
    /// [`MAX_CONCURRENT_RENDERS`] renders are already running.
    Busy,
    /// The render did not finish within the deadline.
    TimedOut,
    /// The render thread could not be started, or died.
    Crashed,
}

impl fmt::Display for PdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let PdfError::ImageTooLarge { width, height } = self {
            return write!(f, "PDF holds an image of {width}x{height} pixels, over the budget");
        }
        f.write_str(match self {
            PdfError::ImageTooLarge { .. } => "PDF image too large",
            PdfError::TooLarge => "PDF too large to render",
            PdfError::Unreadable => "PDF not readable",
            PdfError::NoPages => "PDF has no pages",
            PdfError::PageTooTall => "PDF page too tall to thumbnail",
            PdfError::Busy => "too many PDF renders in flight",
            PdfError::TimedOut => "PDF render overran its deadline",
            PdfError::Crashed => "PDF render thread failed",
        })
    }
}

/// Whether the content starts like a PDF (readers accept the header anywhere in the first KiB).
pub(super) fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)].windows(5).any(|window| window == b"%PDF-")
}

/// The first page of the PDF in `bytes`, `width` pixels wide, on white.
pub(super) fn render_first_page(bytes: &[u8], width: u32, deadline: Instant) -> Result<RgbImage, PdfError> {
    if bytes.len() > MAX_PDF_BYTES {
        return Err(PdfError::TooLarge);
    }
    // The thread may outlive this call, so it gets its own copy of the file.
    let data = bytes.to_vec();
    let wait = deadline.saturating_duration_since(Instant::now());
    let page = run_bounded(&RENDERS_IN_FLIGHT, MAX_CONCURRENT_RENDERS, wait, move || render_page(data, width))??;
    // Rendered on an opaque background, so dropping alpha loses nothing.
    Ok(image::DynamicImage::ImageRgba8(page).into_rgb8())
}

/// Renders page one of `data` at `width` pixels. Runs on the render thread.
fn render_page(data: Vec<u8>, width: u32) -> Result<RgbaImage, PdfError> {
    let pdf = Pdf::new(data).map_err(|_| PdfError::Unreadable)?;
    let pages = pdf.pages();
    let page = pages.first().ok_or(PdfError::NoPages)?;
    check_images(&pdf)?;
    let mut operations = page.typed_operations();
    while let Some(operation) = operations.next() {
        if let TypedInstruction::InlineImage(image) = operation {
            check_image(image.0.dict(), b"W", b"H")?;
        }
    }
    let (page_width, page_height) = page.render_dimensions();
    let height = target_height(f64::from(page_width), f64::from(page_height), width).ok_or(PdfError::PageTooTall)?;
    // Both are within MAX_OUTPUT_PIXELS's sides (2048 wide, 8192 high), which fit in u16.
    let (Ok(pixmap_width), Ok(pixmap_height)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(PdfError::PageTooTall);
    };

    let cache = RenderCache::new();
    let mut context = RenderContext::new(pixmap_width, pixmap_height);
    // Scale each axis to the exact pixel size: rounding the height must not leave a blank row.
    let transform =
        Affine::scale_non_uniform(f64::from(width) / f64::from(page_width), f64::from(height) / f64::from(page_height))
            * page.initial_transform(true).to_kurbo();
    render_into(page, &cache, &InterpreterSettings::default(), &RenderSettings::default(), &mut context, transform);
    context.flush();
    let mut pixmap = Pixmap::new(pixmap_width, pixmap_height);
    context.render_with(
        &mut pixmap,
        &mut Resources::default(),
        RasterizerSettings { target_init: TargetInit::Clear(WHITE), ..Default::default() },
    );
    // Premultiplied RGBA; on an opaque white background that equals straight RGBA.
    RgbaImage::from_raw(width, height, pixmap.data_as_u8_slice().to_vec()).ok_or(PdfError::Crashed)
}

/// Refuses the PDF if any image stream in it claims more than [`MAX_PDF_IMAGE_PIXELS`]. Only
/// images have both `/Width` and `/Height`; an image on a later page is counted too, which
/// errs on the side of the icon.
fn check_images(pdf: &Pdf) -> Result<(), PdfError> {
    for object in pdf.objects() {
        if let Object::Stream(stream) = object {
            check_image(stream.dict(), b"Width", b"Height")?;
        }
    }
    Ok(())
}

/// Checks one image dictionary, whose sides are under the keys `width` and `height`.
fn check_image(dict: &Dict<'_>, width: &[u8], height: &[u8]) -> Result<(), PdfError> {
    // Read as numbers, so that a negative or fractional side cannot slip past as "absent".
    let side =
        |key: &[u8]| dict.get::<f64>(key).map(|value| if value.is_finite() { value.abs().ceil() } else { f64::MAX });
    if let (Some(width), Some(height)) = (side(width), side(height))
        && width * height > MAX_PDF_IMAGE_PIXELS as f64
    {
        // Saturating: the sides are only reported.
        return Err(PdfError::ImageTooLarge { width: width as u64, height: height as u64 });
    }
    Ok(())
}

/// Releases a render slot when the render thread ends, however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `job` on a new thread if fewer than `max` jobs counted by `in_flight` are running,
/// and waits at most `deadline` for its result. A job that overruns keeps its slot until it
/// finishes.
fn run_bounded<T, F>(in_flight: &'static AtomicUsize, max: usize, deadline: Duration, job: F) -> Result<T, PdfError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    in_flight
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| (running < max).then_some(running + 1))
        .map_err(|_| PdfError::Busy)?;
    let slot = Slot(in_flight);
    let (sender, receiver) = mpsc::sync_channel(1);
    let spawned =
        std::thread::Builder::new().name("pdf-thumbnail".to_owned()).stack_size(RENDER_STACK_BYTES).spawn(move || {
            let _slot = slot;
            // The receiver is gone if the caller gave up waiting; nothing to do then.
            let _ = sender.send(job());
        });
    if spawned.is_err() {
        // The closure, and with it the slot, was dropped: the count is already restored.
        return Err(PdfError::Crashed);
    }
    receiver.recv_timeout(deadline).map_err(|error| match error {
        mpsc::RecvTimeoutError::Timeout => PdfError::TimedOut,
        // The job panicked: the sender was dropped without a result.
        mpsc::RecvTimeoutError::Disconnected => PdfError::Crashed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_header_is_found_in_the_first_kilobyte() {
        assert!(looks_like_pdf(b"%PDF-1.4\n"));
        let mut late = vec![b' '; 500];
        late.extend_from_slice(b"%PDF-1.7");
        assert!(looks_like_pdf(&late));
        let mut too_late = vec![b' '; 1030];
        too_late.extend_from_slice(b"%PDF-1.7");
        assert!(!looks_like_pdf(&too_late));
        assert!(!looks_like_pdf(b"%PD"));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert_eq!(
            render_first_page(b"%PDF-1.4\nnot really", 100, Instant::now() + PDF_RENDER_DEADLINE).err(),
            Some(PdfError::Unreadable)
        );
    }

    #[test]
    fn overrunning_jobs_time_out_hold_their_slot_and_release_it_when_done() {
        static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
        let (release, released) = mpsc::channel::<()>();
        let (finished, has_finished) = mpsc::channel::<()>();
        let stuck = run_bounded(&IN_FLIGHT, 1, Duration::from_millis(20), move || {
            // Blocks until the test lets it go: an overrunning render.
            let _ = released.recv();
            let _ = finished.send(());
        });
        assert_eq!(stuck.err(), Some(PdfError::TimedOut));
        assert_eq!(IN_FLIGHT.load(Ordering::Acquire), 1);

        // The stuck job still holds the only slot.
        let refused = run_bounded(&IN_FLIGHT, 1, Duration::from_secs(60), || 7);
        assert_eq!(refused.err(), Some(PdfError::Busy));

        release.send(()).expect("job is waiting");
        has_finished.recv().expect("job finishes");
        // The slot is released as the thread unwinds its closure, just after `finished`.
        while IN_FLIGHT.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        assert_eq!(run_bounded(&IN_FLIGHT, 1, Duration::from_secs(60), || 7), Ok(7));
    }

    #[test]
    fn a_panicking_job_reports_a_crash_and_frees_its_slot() {
        static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
        let result: Result<(), _> = run_bounded(&IN_FLIGHT, 1, Duration::from_secs(60), || {
            panic!("hostile input");
        });
        assert_eq!(result.err(), Some(PdfError::Crashed));
        while IN_FLIGHT.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
    }
}
