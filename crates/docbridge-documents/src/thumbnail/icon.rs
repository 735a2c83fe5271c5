//! Type icons drawn in code: a folder, or a page with a folded corner, a coloured band and a
//! glyph for each [`IconCategory`].
//!
//! Icons are square (`size` × `size`) with a transparent background, so they sit on any page
//! colour. Every shape is a signed distance field evaluated per pixel: that gives anti-aliased
//! edges and strokes at any size from 16 to 2048 pixels without a vector library, font or
//! image asset. Layout is in unit coordinates (0..1 across the icon), scaled to pixels.

use image::{Rgba, RgbaImage};

use super::Icon;
use crate::mime::IconCategory;

/// An sRGB colour.
type Rgb = [u8; 3];

const WHITE: Rgb = [0xFF, 0xFF, 0xFF];
const PAGE_OUTLINE: Rgb = [0x9A, 0xA0, 0xA6];
const FOLD: Rgb = [0xDA, 0xDC, 0xE0];
const FOLDER_BACK: Rgb = [0xE3, 0x7E, 0x00];
const FOLDER_FRONT: Rgb = [0xF9, 0xAB, 0x00];
const FOLDER_HIGHLIGHT: Rgb = [0xFD, 0xC8, 0x4A];

/// The colour of a category's band and glyph: distinct hues so that types can be told apart
/// at a glance (and by tests).
pub(crate) fn category_colour(category: IconCategory) -> Rgb {
    match category {
        IconCategory::Document => [0x1A, 0x73, 0xE8],
        IconCategory::Spreadsheet => [0x18, 0x80, 0x38],
        IconCategory::Presentation => [0xE8, 0x71, 0x0A],
        IconCategory::Pdf => [0xD9, 0x30, 0x25],
        IconCategory::Image => [0x93, 0x34, 0xE6],
        IconCategory::Audio => [0x12, 0xB5, 0xCB],
        IconCategory::Video => [0xE5, 0x25, 0x92],
        IconCategory::Archive => [0x8D, 0x6E, 0x63],
        IconCategory::Text => [0x5F, 0x63, 0x68],
        IconCategory::Code => [0x39, 0x49, 0xAB],
        IconCategory::Generic => [0x80, 0x86, 0x8B],
    }
}

/// A shape in pixel coordinates, described by its signed distance (negative inside).
enum Shape {
    RoundRect {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        radius: f32,
    },
    Circle {
        cx: f32,
        cy: f32,
        r: f32,
    },
    /// A convex polygon, as its vertices and, per edge, a vertex on it and its outward unit
    /// normal (precomputed: the distance is evaluated for every pixel near the shape).
    Polygon {
        points: Vec<(f32, f32)>,
        edges: Vec<Edge>,
    },
    /// A line segment with round caps, `r` being half its thickness.
    Capsule {
        a: (f32, f32),
        b: (f32, f32),
        r: f32,
    },
}

/// An edge of a convex polygon: a point on it and its outward unit normal.
struct Edge {
    x: f32,
    y: f32,
    nx: f32,
    ny: f32,
}

impl Shape {
    /// A convex polygon with vertices `points`, in either winding.
    fn polygon(points: Vec<(f32, f32)>) -> Self {
        let next = points.iter().cycle().skip(1);
        let area2: f32 = points.iter().zip(next.clone()).map(|(a, b)| a.0 * b.1 - b.0 * a.1).sum();
        // With positive (shoelace) area, interior points have a positive cross product with
        // every edge; the normal's sign makes their distance negative whatever the winding.
        let sign = if area2 >= 0.0 { 1.0 } else { -1.0 };
        let edges = points
            .iter()
            .zip(next)
            .map(|(a, b)| {
                let (ex, ey) = (b.0 - a.0, b.1 - a.1);
                let len = ex.hypot(ey).max(f32::EPSILON);
                Edge { x: a.0, y: a.1, nx: sign * ey / len, ny: -sign * ex / len }
            })
            .collect();
        Shape::Polygon { points, edges }
    }

    /// Signed distance from the point to the shape's edge, in pixels.
    fn distance(&self, px: f32, py: f32) -> f32 {
        match self {
            Shape::RoundRect { x0, y0, x1, y1, radius } => {
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                let (hx, hy) = ((x1 - x0) / 2.0, (y1 - y0) / 2.0);
                let r = radius.min(hx).min(hy).max(0.0);
                let qx = (px - cx).abs() - hx + r;
                let qy = (py - cy).abs() - hy + r;
                let outside = qx.max(0.0).hypot(qy.max(0.0));
                outside + qx.max(qy).min(0.0) - r
            }
            Shape::Circle { cx, cy, r } => (px - cx).hypot(py - cy) - r,
            // The largest signed distance to an edge's line is exact inside a convex polygon
            // and close enough outside it for a one-pixel anti-aliased edge.
            Shape::Polygon { edges, .. } => edges
                .iter()
                .map(|edge| (px - edge.x) * edge.nx + (py - edge.y) * edge.ny)
                .fold(f32::NEG_INFINITY, f32::max),
            Shape::Capsule { a, b, r } => {
                let (ex, ey) = (b.0 - a.0, b.1 - a.1);
                let len2 = (ex * ex + ey * ey).max(f32::EPSILON);
                let t = (((px - a.0) * ex + (py - a.1) * ey) / len2).clamp(0.0, 1.0);
                (px - (a.0 + t * ex)).hypot(py - (a.1 + t * ey)) - r
            }
        }
    }

    /// Pixel bounds `(x0, y0, x1, y1)` outside which the shape has no coverage.
    fn bounds(&self) -> (f32, f32, f32, f32) {
        match self {
            Shape::RoundRect { x0, y0, x1, y1, .. } => (*x0, *y0, *x1, *y1),
            Shape::Circle { cx, cy, r } => (cx - r, cy - r, cx + r, cy + r),
            Shape::Polygon { points, .. } => points.iter().fold(
                (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY),
                |(x0, y0, x1, y1), &(x, y)| (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            ),
            Shape::Capsule { a, b, r } => (a.0.min(b.0) - r, a.1.min(b.1) - r, a.0.max(b.0) + r, a.1.max(b.1) + r),
        }
    }
}

/// An icon being drawn: shapes are given in unit coordinates and composited "source over".
struct Canvas {
    image: RgbaImage,
    scale: f32,
}

impl Canvas {
    fn new(size: u32) -> Self {
        Self { image: RgbaImage::new(size, size), scale: size as f32 }
    }

    fn px(&self, unit: f32) -> f32 {
        unit * self.scale
    }

    fn round_rect(&self, x0: f32, y0: f32, x1: f32, y1: f32, radius: f32) -> Shape {
        Shape::RoundRect { x0: self.px(x0), y0: self.px(y0), x1: self.px(x1), y1: self.px(y1), radius: self.px(radius) }
    }

    fn circle(&self, cx: f32, cy: f32, r: f32) -> Shape {
        Shape::Circle { cx: self.px(cx), cy: self.px(cy), r: self.px(r) }
    }

    fn polygon(&self, points: &[(f32, f32)]) -> Shape {
        Shape::polygon(points.iter().map(|&(x, y)| (self.px(x), self.px(y))).collect())
    }

    fn capsule(&self, a: (f32, f32), b: (f32, f32), thickness: f32) -> Shape {
        Shape::Capsule {
            a: (self.px(a.0), self.px(a.1)),
            b: (self.px(b.0), self.px(b.1)),
            // Never thinner than a pixel, or small icons lose their strokes.
            r: (self.px(thickness) / 2.0).max(0.5),
        }
    }

    /// Width of outlines in pixels: thin but never below one pixel.
    fn stroke(&self) -> f32 {
        self.px(0.02).max(1.0)
    }

    /// Paints `shape` shrunk by `inset` pixels in `colour`.
    ///
    /// Work goes tile by tile: every distance here grows by at most one pixel per pixel moved
    /// (exact distances, and the polygon's maximum of edge distances, are 1-Lipschitz), so the
    /// distance at a tile's centre tells whether the whole tile is inside, outside or crossed
    /// by the edge, and only crossed tiles are evaluated pixel by pixel. That keeps a
    /// 2048-pixel icon cheap even in unoptimised builds.
    fn fill_inset(&mut self, shape: &Shape, colour: Rgb, inset: f32) {
        const TILE: u32 = 16;
        // Half a tile's diagonal, plus the half pixel of the anti-aliasing ramp.
        let reach = (TILE as f32 / 2.0) * std::f32::consts::SQRT_2 + 0.5;
        let (bx0, by0, bx1, by1) = shape.bounds();
        let (width, height) = self.image.dimensions();
        // One pixel of margin for the anti-aliased edge; the casts saturate, and the clamps
        // keep everything on the canvas.
        let x_start = ((bx0 - 1.0).floor().max(0.0) as u32).min(width);
        let y_start = ((by0 - 1.0).floor().max(0.0) as u32).min(height);
        let x_end = ((bx1 + 1.0).ceil().max(0.0) as u32).min(width);
        let y_end = ((by1 + 1.0).ceil().max(0.0) as u32).min(height);
        let solid = Rgba([colour[0], colour[1], colour[2], u8::MAX]);
        for tile_y in (y_start..y_end).step_by(TILE as usize) {
            for tile_x in (x_start..x_end).step_by(TILE as usize) {
                let tile_x_end = (tile_x + TILE).min(x_end);
                let tile_y_end = (tile_y + TILE).min(y_end);
                let centre =
                    shape.distance((tile_x + tile_x_end) as f32 / 2.0, (tile_y + tile_y_end) as f32 / 2.0) + inset;
                if centre >= reach {
                    continue;
                }
                let inside = centre <= -reach;
                for y in tile_y..tile_y_end {
                    for x in tile_x..tile_x_end {
                        if inside {
                            self.image.put_pixel(x, y, solid);
                            continue;
                        }
                        let d = shape.distance(x as f32 + 0.5, y as f32 + 0.5) + inset;
                        let coverage = (0.5 - d).clamp(0.0, 1.0);
                        if coverage > 0.0 {
                            blend(self.image.get_pixel_mut(x, y), colour, coverage);
                        }
                    }
                }
            }
        }
    }

    fn fill(&mut self, shape: &Shape, colour: Rgb) {
        self.fill_inset(shape, colour, 0.0);
    }

    /// Paints `shape` with an outline of `outline` and an interior of `inner`.
    fn outlined(&mut self, shape: &Shape, outline: Rgb, inner: Rgb) {
        let stroke = self.stroke();
        self.fill(shape, outline);
        self.fill_inset(shape, inner, stroke);
    }
}

/// Composites `colour` at opacity `alpha` over `dst` (straight, not premultiplied, alpha).
fn blend(dst: &mut Rgba<u8>, colour: Rgb, alpha: f32) {
    let dst_alpha = f32::from(dst.0[3]) / 255.0;
    let out_alpha = alpha + dst_alpha * (1.0 - alpha);
    if out_alpha <= 0.0 {
        return;
    }
    for (channel, src) in dst.0.iter_mut().zip(colour) {
        let value = (f32::from(src) * alpha + f32::from(*channel) * dst_alpha * (1.0 - alpha)) / out_alpha;
        *channel = value.round().clamp(0.0, 255.0) as u8;
    }
    dst.0[3] = (out_alpha * 255.0).round().clamp(0.0, 255.0) as u8;
}

/// Draws `icon` as a `size` × `size` RGBA image with a transparent background.
pub(crate) fn draw(icon: Icon, size: u32) -> RgbaImage {
    let mut canvas = Canvas::new(size.max(1));
    match icon {
        Icon::Folder => draw_folder(&mut canvas),
        Icon::File(category) => draw_page(&mut canvas, category),
    }
    canvas.image
}

fn draw_folder(c: &mut Canvas) {
    let tab = c.round_rect(0.08, 0.16, 0.44, 0.34, 0.04);
    c.fill(&tab, FOLDER_BACK);
    let back = c.round_rect(0.08, 0.22, 0.92, 0.84, 0.04);
    c.fill(&back, FOLDER_BACK);
    let front = c.round_rect(0.08, 0.32, 0.92, 0.84, 0.04);
    c.fill(&front, FOLDER_FRONT);
    // A lighter lip along the front's top edge reads as the folder's opening.
    let lip = c.round_rect(0.08, 0.32, 0.92, 0.37, 0.025);
    c.fill(&lip, FOLDER_HIGHLIGHT);
}

/// Left, top, right and bottom edges of the page, and the size of its folded corner.
const PAGE: (f32, f32, f32, f32) = (0.20, 0.08, 0.80, 0.92);
const FOLD_SIZE: f32 = 0.16;

fn draw_page(c: &mut Canvas, category: IconCategory) {
    let (left, top, right, bottom) = PAGE;
    let colour = category_colour(category);

    let page =
        c.polygon(&[(left, top), (right - FOLD_SIZE, top), (right, top + FOLD_SIZE), (right, bottom), (left, bottom)]);
    c.outlined(&page, PAGE_OUTLINE, WHITE);
    let fold = c.polygon(&[(right - FOLD_SIZE, top), (right - FOLD_SIZE, top + FOLD_SIZE), (right, top + FOLD_SIZE)]);
    c.outlined(&fold, PAGE_OUTLINE, FOLD);

    let band = c.round_rect(left, 0.70, right, 0.86, 0.0);
    c.fill(&band, colour);

    match category {
        IconCategory::Document => text_lines(c, colour, &[0.44, 0.44, 0.44, 0.30], 0.04),
        IconCategory::Text => text_lines(c, colour, &[0.44, 0.36, 0.44, 0.24], 0.03),
        IconCategory::Spreadsheet => draw_grid(c, colour),
        IconCategory::Presentation => draw_slide(c, colour),
        IconCategory::Pdf => draw_pdf(c, colour),
        IconCategory::Image => draw_landscape(c, colour),
        IconCategory::Audio => draw_note(c, colour),
        IconCategory::Video => draw_play(c, colour),
        IconCategory::Archive => draw_zipper(c, colour),
        IconCategory::Code => draw_brackets(c, colour),
        IconCategory::Generic => {}
    }
}

/// Horizontal bars standing for lines of text, `widths` in unit coordinates.
fn text_lines(c: &mut Canvas, colour: Rgb, widths: &[f32], thickness: f32) {
    for (index, width) in widths.iter().enumerate() {
        let y = 0.30 + index as f32 * 0.09;
        let line = c.round_rect(0.28, y, 0.28 + width, y + thickness, thickness / 2.0);
        c.fill(&line, colour);
    }
}

fn draw_grid(c: &mut Canvas, colour: Rgb) {
    let (x0, y0, x1, y1) = (0.28, 0.28, 0.72, 0.62);
    let frame = c.round_rect(x0, y0, x1, y1, 0.0);
    c.fill(&frame, colour);
    let gap = 0.025;
    let cell_w = (x1 - x0 - 4.0 * gap) / 3.0;
    let cell_h = (y1 - y0 - 4.0 * gap) / 3.0;
    for row in 0..3 {
        for column in 0..3 {
            let cx = x0 + gap + column as f32 * (cell_w + gap);
            let cy = y0 + gap + row as f32 * (cell_h + gap);
            // The header row stays coloured, like a spreadsheet's column titles.
            if row > 0 {
                let cell = c.round_rect(cx, cy, cx + cell_w, cy + cell_h, 0.0);
                c.fill(&cell, WHITE);
            }
        }
    }
}

fn draw_slide(c: &mut Canvas, colour: Rgb) {
    let slide = c.round_rect(0.27, 0.28, 0.73, 0.60, 0.02);
    c.outlined(&slide, colour, WHITE);
    for (index, height) in [0.10_f32, 0.17, 0.23].iter().enumerate() {
        let x = 0.34 + index as f32 * 0.11;
        let bar = c.round_rect(x, 0.55 - height, x + 0.07, 0.55, 0.0);
        c.fill(&bar, colour);
    }
}

fn draw_pdf(c: &mut Canvas, colour: Rgb) {
    let picture = c.round_rect(0.28, 0.29, 0.48, 0.47, 0.02);
    c.fill(&picture, colour);
    for (y, x0) in [(0.30, 0.52), (0.38, 0.52), (0.52, 0.28), (0.60, 0.28)] {
        let line = c.round_rect(x0, y, 0.72, y + 0.035, 0.0175);
        c.fill(&line, colour);
    }
}

fn draw_landscape(c: &mut Canvas, colour: Rgb) {
    let frame = c.round_rect(0.27, 0.28, 0.73, 0.63, 0.02);
    c.outlined(&frame, colour, WHITE);
    let sun = c.circle(0.61, 0.37, 0.045);
    c.fill(&sun, colour);
    let big = c.polygon(&[(0.30, 0.60), (0.44, 0.40), (0.58, 0.60)]);
    c.fill(&big, colour);
    let small = c.polygon(&[(0.50, 0.60), (0.60, 0.47), (0.70, 0.60)]);
    c.fill(&small, colour);
}

fn draw_note(c: &mut Canvas, colour: Rgb) {
    let left_head = c.circle(0.37, 0.57, 0.055);
    let right_head = c.circle(0.61, 0.53, 0.055);
    c.fill(&left_head, colour);
    c.fill(&right_head, colour);
    let left_stem = c.round_rect(0.40, 0.32, 0.425, 0.57, 0.0);
    let right_stem = c.round_rect(0.64, 0.28, 0.665, 0.53, 0.0);
    c.fill(&left_stem, colour);
    c.fill(&right_stem, colour);
    let beam = c.polygon(&[(0.40, 0.32), (0.665, 0.28), (0.665, 0.34), (0.40, 0.38)]);
    c.fill(&beam, colour);
}

fn draw_play(c: &mut Canvas, colour: Rgb) {
    let screen = c.round_rect(0.27, 0.29, 0.73, 0.61, 0.04);
    c.fill(&screen, colour);
    let play = c.polygon(&[(0.45, 0.36), (0.59, 0.45), (0.45, 0.54)]);
    c.fill(&play, WHITE);
}

fn draw_zipper(c: &mut Canvas, colour: Rgb) {
    let (_, top, _, _) = PAGE;
    let tooth_h = 0.04;
    let mut y = top + 0.005;
    let mut on_left = true;
    while y + tooth_h <= 0.50 {
        let (x0, x1) = if on_left { (0.43, 0.50) } else { (0.50, 0.57) };
        let tooth = c.round_rect(x0, y, x1, y + tooth_h, 0.0);
        c.fill(&tooth, colour);
        y += tooth_h;
        on_left = !on_left;
    }
    let pull = c.round_rect(0.43, 0.50, 0.57, 0.64, 0.02);
    c.outlined(&pull, colour, WHITE);
}

fn draw_brackets(c: &mut Canvas, colour: Rgb) {
    let thickness = 0.045;
    for (a, b) in [
        ((0.41, 0.33), (0.30, 0.45)),
        ((0.30, 0.45), (0.41, 0.57)),
        ((0.59, 0.33), (0.70, 0.45)),
        ((0.70, 0.45), (0.59, 0.57)),
        ((0.53, 0.32), (0.47, 0.58)),
    ] {
        let stroke = c.capsule(a, b, thickness);
        c.fill(&stroke, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour_at(image: &RgbaImage, ux: f32, uy: f32) -> [u8; 4] {
        let size = image.width() as f32;
        image.get_pixel((ux * size) as u32, (uy * size) as u32).0
    }

    #[test]
    fn page_icon_has_transparent_corners_white_page_and_coloured_band() {
        let image = draw(Icon::File(IconCategory::Spreadsheet), 200);
        assert_eq!(image.dimensions(), (200, 200));
        assert_eq!(colour_at(&image, 0.02, 0.02)[3], 0, "background is transparent");
        assert_eq!(colour_at(&image, 0.25, 0.66), [255, 255, 255, 255], "page is white");
        let [r, g, b] = category_colour(IconCategory::Spreadsheet);
        assert_eq!(colour_at(&image, 0.5, 0.78), [r, g, b, 255], "band has the category colour");
    }

    #[test]
    fn folder_icon_is_amber() {
        let image = draw(Icon::Folder, 64);
        let [r, g, b] = FOLDER_FRONT;
        assert_eq!(colour_at(&image, 0.5, 0.6), [r, g, b, 255]);
        assert_eq!(colour_at(&image, 0.95, 0.05)[3], 0);
    }

    #[test]
    fn every_icon_draws_at_the_smallest_and_largest_sizes() {
        let icons = [
            Icon::Folder,
            Icon::File(IconCategory::Document),
            Icon::File(IconCategory::Spreadsheet),
            Icon::File(IconCategory::Presentation),
            Icon::File(IconCategory::Pdf),
            Icon::File(IconCategory::Image),
            Icon::File(IconCategory::Audio),
            Icon::File(IconCategory::Video),
            Icon::File(IconCategory::Archive),
            Icon::File(IconCategory::Text),
            Icon::File(IconCategory::Code),
            Icon::File(IconCategory::Generic),
        ];
        for icon in icons {
            for size in [16, 2048] {
                let image = draw(icon, size);
                assert_eq!(image.dimensions(), (size, size));
                let opaque = image.pixels().filter(|p| p.0[3] == 255).count();
                assert!(opaque > (size * size / 5) as usize, "{icon:?} at {size} is mostly empty");
            }
        }
    }

    #[test]
    fn categories_have_distinct_colours() {
        use IconCategory::*;
        let all = [Document, Spreadsheet, Presentation, Pdf, Image, Audio, Video, Archive, Text, Code, Generic];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(category_colour(*a), category_colour(*b), "{a:?} vs {b:?}");
            }
        }
    }
}
