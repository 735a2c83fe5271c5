//! The twelve endpoint names, spelled as Workfront spells them.

use std::fmt;
use std::str::FromStr;

/// One endpoint of the protocol. `serviceInfo` is the only one that needs no authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/serviceInfo`: what the provider is and which endpoints it serves.
    ServiceInfo,
    /// `/metadata`: one item's metadata, by ID.
    Metadata,
    /// `/files`: a folder's items, a page at a time.
    Files,
    /// `/search`: items whose names (and, where indexed, content) match a query.
    Search,
    /// `/download`: a file's bytes, with `Range` support.
    Download,
    /// `/thumbnail`: a small image of a file.
    Thumbnail,
    /// `/uploadInit`: reserves a new file or a new version and answers its metadata.
    UploadInit,
    /// `/upload`: the bytes of a reserved upload.
    Upload,
    /// `/createFolder`: a new folder.
    CreateFolder,
    /// `/delete`: removes an item.
    Delete,
    /// `/rename`: gives an item a new name in the same folder.
    Rename,
    /// `/customAction`: runs one of the actions `/serviceInfo` lists.
    CustomAction,
}

impl Endpoint {
    /// Every endpoint, in the order `/serviceInfo` lists them.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::ServiceInfo,
        Endpoint::Metadata,
        Endpoint::Files,
        Endpoint::Search,
        Endpoint::Download,
        Endpoint::Thumbnail,
        Endpoint::UploadInit,
        Endpoint::Upload,
        Endpoint::CreateFolder,
        Endpoint::Delete,
        Endpoint::Rename,
        Endpoint::CustomAction,
    ];

    /// The name as it appears in the URL and in `availableEndpoints` (`uploadInit`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ServiceInfo => "serviceInfo",
            Endpoint::Metadata => "metadata",
            Endpoint::Files => "files",
            Endpoint::Search => "search",
            Endpoint::Download => "download",
            Endpoint::Thumbnail => "thumbnail",
            Endpoint::UploadInit => "uploadInit",
            Endpoint::Upload => "upload",
            Endpoint::CreateFolder => "createFolder",
            Endpoint::Delete => "delete",
            Endpoint::Rename => "rename",
            Endpoint::CustomAction => "customAction",
        }
    }

    /// Whether the endpoint changes the library (and so needs the `editor` role).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::UploadInit | Endpoint::Upload | Endpoint::CreateFolder | Endpoint::Delete | Endpoint::Rename
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = ();

    /// Exact, case-sensitive match: the docs spell the names in camelCase and so does Workfront.
    fn from_str(s: &str) -> Result<Self, ()> {
        Endpoint::ALL.into_iter().find(|e| e.as_str() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(e.as_str().parse::<Endpoint>(), Ok(e));
        }
        assert!("Metadata".parse::<Endpoint>().is_err());
        assert!("customName".parse::<Endpoint>().is_err());
    }
}
