//! The twelve endpoint names, spelled as Workfront spells them.

use std::fmt;
use std::str::FromStr;

/// One endpoint of the protocol. `serviceInfo` is the only one that needs no authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ServiceInfo,
    Metadata,
    Files,
    Search,
    Download,
    Thumbnail,
    UploadInit,
    Upload,
    CreateFolder,
    Delete,
    Rename,
    CustomAction,
}

impl Endpoint {
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
