//! Paths relative to a library root, valid by construction.

use std::fmt;

use crate::{Result, StorageError};

/// The name of the top-level folder where adapters and the documents layer keep their own
/// bookkeeping (temporary uploads, trash). It never appears in listings or walks, and client
/// input can never name it.
pub const INTERNAL_DIR: &str = ".docbridge";

/// The folder inside [`INTERNAL_DIR`] where every adapter keeps its temporary objects (uploads
/// waiting for their commit, files set aside for a delete); never listed.
pub const TEMP_DIR: &str = "tmp";

/// How long a leftover in the internal temporary folder (an upload or a delete that a crash
/// interrupted) must have gone untouched before an adapter removes it: far longer than an upload
/// in progress leaves its temporary file untouched (a stalled one is cut by the minimum upload
/// rate), and than a store's clock can be off from ours.
pub const TEMP_GRACE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A path relative to a library root: zero or more names, each a valid single component
/// (see `docbridge_protocol::validate_name`). The root is the empty path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StoragePath {
    components: Vec<String>,
}

impl StoragePath {
    /// The library's root folder (no components).
    pub fn root() -> Self {
        StoragePath::default()
    }

    /// Parses a `/`-separated path as stored in the index (`a/b/c`; empty for the root). Every
    /// component is checked; the internal folder is refused.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Ok(Self::root());
        }
        let mut path = Self::root();
        for name in raw.split('/') {
            path = path.join(name)?;
        }
        if path.is_internal() {
            return Err(StorageError::InvalidPath(format!("{raw:?} is reserved")));
        }
        Ok(path)
    }

    /// A path inside the internal bookkeeping folder, for the documents layer's trash.
    pub fn internal(names: &[&str]) -> Result<Self> {
        let mut path = Self { components: vec![INTERNAL_DIR.to_owned()] };
        for name in names {
            path = path.join(name)?;
        }
        Ok(path)
    }

    /// This path with one more component, which must be a valid name.
    pub fn join(&self, name: &str) -> Result<Self> {
        docbridge_protocol::validate_name("name", name).map_err(|e| StorageError::InvalidPath(e.to_string()))?;
        let mut components = self.components.clone();
        components.push(name.to_owned());
        Ok(Self { components })
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// Whether this path lies in the internal bookkeeping folder.
    pub fn is_internal(&self) -> bool {
        self.components.first().is_some_and(|c| c == INTERNAL_DIR)
    }

    /// The last component; empty for the root.
    pub fn name(&self) -> &str {
        self.components.last().map_or("", String::as_str)
    }

    /// The containing folder; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.components.split_last()?;
        Some(Self { components: rest.to_vec() })
    }

    /// The names from the root down, none of them empty, `.` or `..`.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &StoragePath) -> bool {
        self.components.starts_with(&other.components)
    }

    /// The `/`-joined form that [`StoragePath::parse`] reads back.
    pub fn as_string(&self) -> String {
        self.components.join("/")
    }
}

impl fmt::Display for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.components.join("/"))
    }
}

impl fmt::Debug for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoragePath({self})")
    }
}
