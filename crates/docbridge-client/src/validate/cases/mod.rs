//! The table of cases: each with an ID, a group, the spec section and contract clause it checks,
//! a description, the endpoints it needs, and its check function. Cases run in table order.

mod errors;
mod extensions;
mod released;
mod setup;
mod unreleased;
mod workfront;

use std::fmt;

use docbridge_protocol::Endpoint;
use futures::future::BoxFuture;

use super::Group;
use super::context::{Ctx, Step};

pub(crate) type CheckFn = for<'a> fn(&'a mut Ctx) -> BoxFuture<'a, Step>;

/// One case of the suite.
pub struct Case {
    /// The case's ID, e.g. `core.files-root`.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// The spec section and contract clause it checks, e.g. `§9.2 / C9`.
    pub section: &'static str,
    /// What it checks, in a sentence.
    pub description: &'static str,
    /// Endpoints the provider must have; otherwise the case is skipped.
    pub needs: &'static [Endpoint],
    pub(crate) check: CheckFn,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("section", &self.section)
            .field("needs", &self.needs)
            .finish()
    }
}

/// Turns an `async fn(&mut Ctx) -> Step` into the table's function pointer type.
macro_rules! check {
    ($function:path) => {{
        fn boxed(ctx: &mut Ctx) -> BoxFuture<'_, Step> {
            Box::pin($function(ctx))
        }
        boxed as CheckFn
    }};
}

macro_rules! case {
    ($id:literal, $group:ident, $section:literal, $description:literal, [$($need:ident),*], $function:path) => {
        Case {
            id: $id,
            group: Group::$group,
            section: $section,
            description: $description,
            needs: &[$(Endpoint::$need),*],
            check: check!($function),
        }
    };
}

static CASES: &[Case] = &[
    case!(
        "setup.service-info",
        Setup,
        "§9.10 / C19",
        "ask /serviceInfo which endpoints exist",
        [],
        setup::service_info
    ),
    case!("setup.sandbox", Setup, "§9.8 / C15", "create the sandbox folder", [], setup::sandbox),
    case!(
        "setup.fixtures",
        Setup,
        "§9.6-9.7 / C13-C14",
        "upload the fixture files (text and PNG)",
        [],
        setup::fixtures
    ),
    // core 1.0
    case!("core.files-root", Core, "§9.2 / C9", "list the root folder", [Files], released::files_root),
    case!(
        "core.files-folder",
        Core,
        "§9.2 / C9",
        "list the sandbox: fixtures with titles, kinds, sizes",
        [Files],
        released::files_folder
    ),
    case!(
        "core.files-pagination",
        Core,
        "§9.2 §13.1 / C9",
        "max and offset count items",
        [Files],
        released::files_pagination
    ),
    case!(
        "core.metadata-root",
        Core,
        "§9.1 §13.2 / C6",
        "metadata of the root folder /",
        [Metadata],
        released::metadata_root
    ),
    case!(
        "core.metadata-file",
        Core,
        "§9.1 §5 / C7",
        "metadata of the fixture files",
        [Metadata],
        released::metadata_file
    ),
    case!("core.metadata-folder", Core, "§9.1 §5 / C7", "metadata of a folder", [Metadata], released::metadata_folder),
    case!(
        "core.search",
        Core,
        "§9.3 / C10",
        "search by name finds the fixtures; no match is []",
        [Search],
        released::search
    ),
    case!("core.download", Core, "§9.4 / C11", "download serves the uploaded bytes", [Download], released::download),
    case!("core.thumbnail", Core, "§9.5 / C12", "thumbnails are image bytes", [Thumbnail], released::thumbnail),
    case!(
        "core.upload-round-trip",
        Core,
        "§9.6-9.7 / C13-C14",
        "uploadInit + upload of 1.5 MiB, read back",
        [UploadInit, Upload, Download, Metadata],
        released::upload_round_trip
    ),
    // 1.1 and 1.2
    case!(
        "upload-1.1.document-ids",
        Upload11,
        "§9.6 §8 / C13",
        "uploadInit accepts documentId and documentVersionId",
        [UploadInit, Upload, Download, Metadata],
        released::document_ids
    ),
    case!(
        "create-folder.create",
        CreateFolder12,
        "§9.8 / C15",
        "createFolder answers the new, listed, empty folder",
        [CreateFolder, Files],
        released::create_folder
    ),
    case!(
        "create-folder.form-body",
        CreateFolder12,
        "§13.10 / C21",
        "createFolder parameters in a form body",
        [CreateFolder],
        released::create_folder_form
    ),
    // not yet released by Workfront
    case!(
        "unreleased.service-info",
        Unreleased,
        "§9.10 §3.4 / C19",
        "serviceInfo shape, without authentication",
        [ServiceInfo],
        unreleased::service_info
    ),
    case!(
        "unreleased.rename",
        Unreleased,
        "§9.11 / C17 C6",
        "rename changes the title and keeps the ID",
        [Rename, UploadInit, Upload, Files],
        unreleased::rename
    ),
    case!(
        "unreleased.delete",
        Unreleased,
        "§9.9 / C16",
        "delete a file and a folder with contents",
        [Delete, UploadInit, Upload, Metadata],
        unreleased::delete
    ),
    case!(
        "unreleased.custom-action",
        Unreleased,
        "§9.12 / C18",
        "customAction: unknown action fails, a declared one runs",
        [CustomAction],
        unreleased::custom_action
    ),
    // errors
    case!(
        "errors.unknown-id",
        Errors,
        "§7 / C20 / C6",
        "an unknown or malformed ID is 404 with {\"status\":\"error\"}",
        [Metadata, Files, Download, Thumbnail],
        errors::unknown_id
    ),
    case!(
        "errors.missing-params",
        Errors,
        "§7 / C20",
        "a missing required parameter is 400",
        [Metadata, Search, UploadInit],
        errors::missing_params
    ),
    case!(
        "errors.bad-names",
        Errors,
        "§7 / C13 C15",
        "empty, .., and names with / or \\ are 400",
        [UploadInit],
        errors::bad_names
    ),
    case!(
        "errors.name-conflict",
        Errors,
        "§9.8 §9.11 / C15 C17",
        "a taken folder name is 409",
        [CreateFolder],
        errors::name_conflict
    ),
    case!(
        "errors.unknown-endpoint",
        Errors,
        "§1 / C1 C20",
        "an unknown endpoint is 404 with the error body",
        [],
        errors::unknown_endpoint
    ),
    case!(
        "errors.bad-counts",
        Errors,
        "§9.2 / C9",
        "max and offset that are not counts are 400",
        [Files],
        errors::bad_counts
    ),
    case!(
        "errors.download-folder",
        Errors,
        "§9.4 / C11",
        "download of a folder is 400",
        [Download],
        errors::download_folder
    ),
    // credentials
    case!("apikey.missing", ApiKey, "§3.1 §7 / C3", "no apiKey and username: 403", [], errors::apikey_missing),
    case!("apikey.wrong-key", ApiKey, "§3.1 §7 / C3", "a wrong apiKey: 403", [], errors::apikey_wrong),
    case!("apikey.empty-username", ApiKey, "§3.1 / C3", "an empty username: 403", [], errors::apikey_empty_username),
    case!("oauth2.missing-token", OAuth2, "§3.2 §7 §13.7 / C4", "no bearer token: 403", [], errors::oauth2_missing),
    case!(
        "oauth2.garbage-token",
        OAuth2,
        "§3.2 §7 §13.7 / C4",
        "a garbage bearer token: 403",
        [],
        errors::oauth2_garbage
    ),
    // docbridge's extensions
    case!(
        "extensions.range",
        Extensions,
        "C11 (RFC 9110 §14)",
        "Range gives 206 with Content-Range; past the end 416",
        [Download],
        extensions::range
    ),
    case!(
        "extensions.conditional",
        Extensions,
        "C11 C12 (RFC 9110 §13)",
        "ETag/If-None-Match and If-Modified-Since give 304",
        [Download, Thumbnail],
        extensions::conditional
    ),
    case!(
        "extensions.content-disposition",
        Extensions,
        "C11 (RFC 6266)",
        "Content-Disposition attachment with filename*",
        [Download],
        extensions::content_disposition
    ),
    // the manual tests of §11
    case!(
        "workfront.1-provision",
        WorkfrontManual,
        "§11 test 1 / C3 C4",
        "provision: the service answers with these credentials",
        [Files],
        workfront::provision
    ),
    case!(
        "workfront.2-link",
        WorkfrontManual,
        "§11 test 2 / §9.1-9.2",
        "link: browse to the file, metadata agrees",
        [Files, Metadata],
        workfront::link
    ),
    case!(
        "workfront.3-open",
        WorkfrontManual,
        "§11 test 3 / §5 C8",
        "open: viewLink loads in a browser",
        [Metadata],
        workfront::open_document
    ),
    case!(
        "workfront.4-open-logged-out",
        WorkfrontManual,
        "§11 test 4 / §13.19 C8",
        "open logged out: a page or a login redirect",
        [Metadata],
        workfront::open_logged_out
    ),
    case!(
        "workfront.5-download",
        WorkfrontManual,
        "§11 test 5 / §5 C8",
        "download: downloadLink serves the bytes",
        [Metadata],
        workfront::download_link
    ),
    case!(
        "workfront.6-search",
        WorkfrontManual,
        "§11 test 6 / §9.3 C10",
        "search gives the right results",
        [Search],
        workfront::search
    ),
    case!(
        "workfront.7-send-to-provider",
        WorkfrontManual,
        "§11 test 7 / §9.6-9.7",
        "send to provider: into a chosen folder",
        [Files, UploadInit, Upload],
        workfront::send_to_provider
    ),
    case!(
        "workfront.8-thumbnails",
        WorkfrontManual,
        "§11 test 8 / §9.5",
        "thumbnails: image bytes for a linked image",
        [Metadata, Thumbnail],
        workfront::thumbnails
    ),
    case!(
        "workfront.9-content-bytes",
        WorkfrontManual,
        "§11 test 9 / §9.4",
        "content bytes: /download equals what was uploaded",
        [Download],
        workfront::content_bytes
    ),
    case!(
        "workfront.10-token-refresh",
        WorkfrontManual,
        "§11 test 10 / §4.3 C4",
        "token refresh",
        [],
        workfront::token_refresh
    ),
    // always last: remove what the run created
    case!("setup.cleanup", Setup, "§9.9 / C16", "delete the sandbox and everything created", [], setup::cleanup),
];

/// Every case, in the order they run.
pub fn cases() -> &'static [Case] {
    CASES
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_every_group_has_cases() {
        let ids: HashSet<&str> = CASES.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), CASES.len());
        for group in Group::SELECTABLE {
            assert!(CASES.iter().any(|c| c.group == group), "{group} has no case");
        }
        assert_eq!(CASES.last().map(|c| c.id), Some("setup.cleanup"));
    }
}
