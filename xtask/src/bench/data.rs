//! The benchmark's data sets, generated under `target/bench/<mode>/` and reused by later runs
//! (a marker file says a set is complete; a half-made set is thrown away and made again).
//!
//! Everything docbridge serves lives in `data/documents`, which is also the folder nginx and
//! rclone serve, so that every peer works on the very same files.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

/// Bumped whenever the layout below changes, so that old sets are made again.
const LAYOUT_VERSION: u32 = 1;

/// Items per folder of the search tree: typical of a busy project folder, and it keeps the
/// number of folders (one reconciliation each when indexing) moderate.
pub const TREE_FOLDER_ITEMS: usize = 1000;

/// Words the generated names are made of, so that names look like documents and mixed-case
/// queries have something to match.
const WORDS: &[&str] =
    &["Budget", "report", "Invoice", "minutes", "Contract", "draft", "Plan", "summary", "Brief", "review"];
const EXTENSIONS: &[&str] = &["pdf", "docx", "xlsx", "pptx", "txt", "png", "jpg", "csv"];

/// Sizes of one run.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub big_file_bytes: u64,
    pub small_files: usize,
    pub small_file_bytes: usize,
    pub folder_items: usize,
    pub tree_items: usize,
    pub photo_width: u32,
    pub photo_height: u32,
}

/// Paths of one generated set.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// `target/bench/<mode>`.
    pub root: PathBuf,
    /// docbridge's `--data-dir`.
    pub data_dir: PathBuf,
    /// The library root: `data/documents`.
    pub documents: PathBuf,
    pub sizes: Sizes,
}

impl DataSet {
    pub fn new(root: PathBuf, sizes: Sizes) -> Self {
        let data_dir = root.join("data");
        let documents = data_dir.join("documents");
        DataSet { root, data_dir, documents, sizes }
    }

    pub fn big_file(&self) -> PathBuf {
        self.documents.join("big.bin")
    }

    fn marker(&self) -> PathBuf {
        self.root.join(format!(".complete-v{LAYOUT_VERSION}"))
    }

    /// Makes the set unless a complete one is already there. Answers whether it was made now
    /// (a new set needs a new index).
    pub fn ensure(&self) -> anyhow::Result<bool> {
        if self.marker().exists() {
            return Ok(false);
        }
        if self.root.exists() {
            eprintln!("bench: removing the incomplete data set {}", self.root.display());
            fs::remove_dir_all(&self.root).with_context(|| format!("removing {}", self.root.display()))?;
        }
        fs::create_dir_all(&self.documents)?;
        let started = Instant::now();
        self.write_big_file()?;
        self.write_small_files()?;
        self.write_folder()?;
        self.write_tree()?;
        self.write_photo()?;
        fs::create_dir_all(self.documents.join("uploads"))?;
        fs::write(self.marker(), b"")?;
        eprintln!("bench: data set made in {:.1} s", started.elapsed().as_secs_f64());
        Ok(true)
    }

    fn write_big_file(&self) -> anyhow::Result<()> {
        eprintln!("bench: writing a {} MiB file", self.sizes.big_file_bytes >> 20);
        // Incompressible bytes, but cheap to make: one random-looking MiB, varied per MiB.
        let mut block = vec![0u8; 1 << 20];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(self.big_file())?);
        let mut left = self.sizes.big_file_bytes;
        while left > 0 {
            fill_pseudo_random(&mut block, &mut state);
            let n = usize::try_from(left.min(block.len() as u64))?;
            out.write_all(&block[..n])?;
            left -= n as u64;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    }

    /// Small files as PDFs: the commonest document type, and detected from the name alone.
    pub fn small_file_names(&self) -> Vec<String> {
        (0..self.sizes.small_files).map(|i| format!("s{i:04}.pdf")).collect()
    }

    fn write_small_files(&self) -> anyhow::Result<()> {
        let dir = self.documents.join("small");
        fs::create_dir_all(&dir)?;
        let mut state = 42u64;
        let mut bytes = vec![0u8; self.sizes.small_file_bytes];
        for name in self.small_file_names() {
            fill_pseudo_random(&mut bytes, &mut state);
            fs::write(dir.join(name), &bytes)?;
        }
        Ok(())
    }

    /// A folder as a Workfront user sees one: mostly documents of the usual types, some
    /// subfolders, and a few files whose extension says nothing (their type comes from their
    /// first bytes).
    fn write_folder(&self) -> anyhow::Result<()> {
        let dir = self.documents.join("folder1k");
        fs::create_dir_all(&dir)?;
        let folders = self.sizes.folder_items / 20;
        for i in 0..folders {
            fs::create_dir(dir.join(format!("Folder {i:03}")))?;
        }
        for i in folders..self.sizes.folder_items {
            let word = WORDS[i % WORDS.len()];
            let name = if i % 50 == 0 {
                format!("{word} {i:04}.dat")
            } else {
                format!("{word} {i:04}.{}", EXTENSIONS[i % EXTENSIONS.len()])
            };
            fs::write(dir.join(name), format!("%PDF-1.4 generated file {i}\n").repeat(40))?;
        }
        Ok(())
    }

    /// `tree/dNNNN/rNNNNNNN-word.ext`: `tree_items` items in all (folders included), empty
    /// files since only names are searched.
    fn write_tree(&self) -> anyhow::Result<()> {
        let dir = self.documents.join("tree");
        fs::create_dir_all(&dir)?;
        let folders = self.sizes.tree_items.div_ceil(TREE_FOLDER_ITEMS);
        eprintln!("bench: creating {} items in {folders} folders", self.sizes.tree_items);
        let mut made = 0;
        for f in 0..folders {
            let sub = dir.join(format!("d{f:04}"));
            fs::create_dir(&sub)?;
            made += 1;
            for _ in 1..TREE_FOLDER_ITEMS {
                if made >= self.sizes.tree_items {
                    break;
                }
                fs::File::create(sub.join(tree_name(made)))?;
                made += 1;
            }
        }
        Ok(())
    }

    pub fn photo(&self) -> PathBuf {
        self.documents.join("photo.jpg")
    }

    fn write_photo(&self) -> anyhow::Result<()> {
        let (w, h) = (self.sizes.photo_width, self.sizes.photo_height);
        eprintln!("bench: encoding a {w}x{h} JPEG");
        // Smooth gradients with some noise: decodes like a photograph, not like a flat image
        // that a decoder would race through.
        let mut state = 7u64;
        let image = image::RgbImage::from_fn(w, h, |x, y| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let noise = (state >> 59) as u8;
            image::Rgb([
                ((x * 255 / w) as u8).wrapping_add(noise),
                ((y * 255 / h) as u8).wrapping_add(noise),
                (((x + y) * 127 / (w + h)) as u8).wrapping_add(noise),
            ])
        });
        let file = BufWriter::new(fs::File::create(self.photo())?);
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90);
        image.write_with_encoder(encoder).context("encoding the JPEG")?;
        Ok(())
    }
}

/// The name of the `n`th item of the search tree. Seven digits: a six-digit query term matches
/// about ten names (see `search_term`).
pub fn tree_name(n: usize) -> String {
    format!("r{n:07}-{}.{}", WORDS[n % WORDS.len()], EXTENSIONS[n % EXTENSIONS.len()])
}

/// The `k`th query term of the search benchmark: six digits of a tree name, so that each query
/// finds a handful of items among all of them, as a user looking for one document would.
pub fn search_term(k: usize, tree_items: usize) -> String {
    // A multiplicative hash spreads the queries over the whole tree.
    let groups = (tree_items / 10).max(1);
    let group = (k.wrapping_mul(2_654_435_761)) % groups;
    format!("{group:06}")
}

/// A fast xorshift filler: the content only has to defeat compression, not be random.
pub(super) fn fill_pseudo_random(buffer: &mut [u8], state: &mut u64) {
    for chunk in buffer.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Makes `path` an empty folder.
pub fn fresh_dir(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}
