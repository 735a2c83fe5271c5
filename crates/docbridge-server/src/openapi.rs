//! The OpenAPI 3.1 document of every route docbridge serves, built in code with utoipa's builder
//! types and served at `/openapi.json`; `docs/openapi.json` is its committed copy
//! (`cargo xtask codegen` rewrites it, and `tests/it/openapi.rs` fails when it is stale or when a
//! route of the router is missing from it).
//!
//! Schemas are written here rather than derived on the protocol types, so that
//! `docbridge-protocol` stays free of a documentation dependency; `tests/it/openapi.rs` checks that
//! each schema names exactly the fields the protocol type serialises.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use docbridge_protocol::Endpoint;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Responses, ResponsesBuilder,
};

use crate::state::AppState;

/// `/openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}

async fn serve() -> axum::response::Response {
    match document_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => crate::ApiError::internal(format!("serialising the OpenAPI document: {e}")).into_response(),
    }
}

/// The document as committed in `docs/openapi.json`: pretty JSON with a final newline.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = document().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}

const TAG_PROVIDER: &str = "provider";
const TAG_LINKS: &str = "links";
const TAG_OAUTH: &str = "oauth2";
const TAG_ADMIN_API: &str = "admin-api";
const TAG_ADMIN_PAGE: &str = "admin-page";
const TAG_OPERATIONS: &str = "operations";

/// The whole document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for (path, item) in provider_paths().into_iter().chain(operations_paths()).chain(oauth_paths()) {
        paths = paths.path(path, item);
    }
    // The signed links, health and readiness, the admin API and the admin page declare their
    // routes and their description together (utoipa-axum).
    let mut components = components();
    for declared in [crate::declared_openapi(), crate::admin_api::openapi(), crate::admin_page::openapi()] {
        for (path, item) in declared.paths.paths {
            paths = paths.path(path, item);
        }
        // What components() says wins: it adds to some derived schemas (webhook_secrets).
        for (name, schema) in declared.components.map(|c| c.schemas).unwrap_or_default() {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("docbridge")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A Document Webhooks provider for Adobe Workfront. Provider endpoints live under each integration's Base API URL, \
                     `{public_url}/webhooks/{slug}`; Workfront calls them with the ApiKey headers or an OAuth2 bearer token.",
                ))
                .license(Some(LicenseBuilder::new().name("MIT OR Apache-2.0").identifier(Some("MIT OR Apache-2.0")).build())),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some([
            TagBuilder::new().name(TAG_PROVIDER).description(Some("Workfront's Document Webhooks protocol, version 1.2")).build(),
            TagBuilder::new().name(TAG_LINKS).description(Some("Signed viewLink and downloadLink pages, opened by a browser without credentials")).build(),
            TagBuilder::new().name(TAG_OAUTH).description(Some("docbridge's OAuth2 authorization server, for OAuth2 integrations")).build(),
            TagBuilder::new().name(TAG_ADMIN_API).description(Some("Administration JSON API, authenticated with the admin token")).build(),
            TagBuilder::new().name(TAG_ADMIN_PAGE).description(Some("Administration web page (HTML, session cookie after login)")).build(),
            TagBuilder::new().name(TAG_OPERATIONS).description(Some("Health, readiness, metrics and this document")).build(),
        ]))
        .build()
}

// ---- building blocks ----

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn array_of(item: impl Into<RefOr<Schema>>) -> ArrayBuilder {
    ArrayBuilder::new().items(item.into())
}

fn parameter(
    name: &str,
    location: ParameterIn,
    required: bool,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn query(name: &str, required: bool, description: &str) -> utoipa::openapi::path::Parameter {
    parameter(name, ParameterIn::Query, required, description, string())
}

fn count_query(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    parameter(name, ParameterIn::Query, false, description, integer())
}

fn header_param(name: &str, required: bool, description: &str) -> utoipa::openapi::path::Parameter {
    parameter(name, ParameterIn::Header, required, description, string())
}

fn path_param(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    parameter(name, ParameterIn::Path, true, description, string())
}

fn json(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

fn html(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("text/html", ContentBuilder::new().schema(Some(string())).build())
        .build()
}

fn plain(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("text/plain", ContentBuilder::new().schema(Some(string())).build())
        .build()
}

fn bytes(description: &str, media_type: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            media_type,
            ContentBuilder::new().schema(Some(string().content_media_type("application/octet-stream"))).build(),
        )
        .build()
}

fn empty(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new().description(description).build()
}

fn responses(list: Vec<(&str, utoipa::openapi::Response)>) -> Responses {
    let mut builder = ResponsesBuilder::new();
    for (status, response) in list {
        builder = builder.response(status, response);
    }
    builder.build()
}

fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    parameters: Vec<utoipa::openapi::path::Parameter>,
    responses: Responses,
) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .tag(tag)
        .summary(Some(summary))
        .parameters(Some(parameters))
        .responses(responses)
}

/// One path with the same operation under several methods; operation IDs get the method as
/// suffix after the first, as they must be unique.
fn path_item(methods: &[HttpMethod], operation: OperationBuilder, id: &str) -> PathItem {
    let operation: Operation = operation.build();
    let mut item: Option<PathItem> = None;
    for (i, method) in methods.iter().enumerate() {
        let mut op = operation.clone();
        if i > 0 {
            op.operation_id = Some(format!("{id}_{}", method_name(method)));
        }
        match &mut item {
            None => item = Some(PathItem::new(method.clone(), op)),
            Some(existing) => existing.merge_operations(PathItem::new(method.clone(), op)),
        }
    }
    item.unwrap_or_default()
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        HttpMethod::Options => "options",
        HttpMethod::Head => "head",
        HttpMethod::Patch => "patch",
        HttpMethod::Trace => "trace",
    }
}

fn form_body(fields: &[(&str, &str)]) -> utoipa::openapi::request_body::RequestBody {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for (name, description) in fields {
        object = object.property(*name, string().description(Some(*description)));
    }
    RequestBodyBuilder::new()
        .description(Some("The same parameters as an application/x-www-form-urlencoded body; the query string wins when both name one."))
        .content("application/x-www-form-urlencoded", ContentBuilder::new().schema(Some(object)).build())
        .required(Some(Required::False))
        .build()
}

// ---- provider endpoints (C1, C9-C21) ----

fn provider_security() -> Vec<SecurityRequirement> {
    vec![
        SecurityRequirement::new("apiKey", Vec::<String>::new()).add("username", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
    ]
}

/// A provider endpoint's answers: its own, then the standard failures in its vocabulary.
fn provider_responses(
    answers: Vec<(&'static str, utoipa::openapi::Response)>,
    schema: &str,
    statuses: &[&'static str],
) -> Responses {
    let failures = statuses.iter().map(|status| {
        let description = match *status {
            "400" => "Bad input (a missing or malformed parameter)",
            "403" => "Missing or wrong credentials, no permission, or a disabled integration",
            "404" => "No such item or integration",
            "409" => "The name is taken",
            "413" => "The upload exceeds the size limit",
            "429" => "Rate limited; see Retry-After",
            _ => "Internal error; the x-request-id header names the log entry",
        };
        (*status, json(description, schema_ref(schema)))
    });
    responses(answers.into_iter().chain(failures).collect())
}

fn provider_paths() -> Vec<(String, PathItem)> {
    use HttpMethod::{Delete, Get, Head, Post, Put};
    let slug = || path_param("slug", "The integration's slug, part of its Base API URL");
    let id = |what: &str| query("id", true, what);
    let parent = || query("parentId", false, "A folder's ID; absent, empty or / means the root");
    let item_list = || json("The items", array_of(schema_ref("ItemMetadata")));
    let common = &["400", "403", "404", "429", "500"];
    let conflict = &["400", "403", "404", "409", "429", "500"];
    let mut paths = Vec::new();
    for endpoint in Endpoint::ALL {
        let name = endpoint.as_str();
        let path = format!("/webhooks/{{slug}}/{name}");
        let (methods, op): (&[HttpMethod], OperationBuilder) = match endpoint {
            Endpoint::ServiceInfo => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "What the provider offers: protocol version, endpoints, custom actions",
                    vec![slug()],
                    provider_responses(vec![("200", json("The service description", schema_ref("ServiceInfo")))], "ErrorBody", &["404", "500"]),
                )
                .security(SecurityRequirement::default()),
            ),
            Endpoint::Metadata => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "One item's metadata",
                    vec![slug(), id("The item's ID; / is the root folder")],
                    provider_responses(vec![("200", json("The item", schema_ref("ItemMetadata")))], "ErrorBody", common),
                ),
            ),
            Endpoint::Files => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "A folder's children: folders first, then by name",
                    vec![slug(), parent(), count_query("max", "At most this many items"), count_query("offset", "Skip this many items")],
                    provider_responses(vec![("200", item_list())], "ErrorBody", common),
                ),
            ),
            Endpoint::Search => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Items whose name (or text content) holds every term, best matches first",
                    vec![
                        slug(),
                        query("query", true, "Whitespace-separated terms, matched case-insensitively"),
                        parent(),
                        count_query("max", "At most this many items (default 100)"),
                        count_query("offset", "Skip this many items"),
                    ],
                    provider_responses(vec![("200", item_list())], "ErrorBody", common),
                ),
            ),
            Endpoint::Download => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "A file's bytes, streamed, with validators and single ranges",
                    vec![
                        slug(),
                        id("The file's ID"),
                        header_param("Range", false, "One byte range, e.g. bytes=0-1023"),
                        header_param("If-None-Match", false, "An ETag from an earlier answer"),
                        header_param("If-Modified-Since", false, "An HTTP date"),
                        header_param("If-Range", false, "The range applies only while this ETag or date still holds"),
                    ],
                    provider_responses(
                        vec![
                            ("200", bytes("The file, as an attachment", "application/octet-stream")),
                            ("206", bytes("The requested range", "application/octet-stream")),
                            ("304", empty("Not modified")),
                            ("416", json("The range is not satisfiable", schema_ref("ErrorBody"))),
                        ],
                        "ErrorBody",
                        common,
                    ),
                ),
            ),
            Endpoint::Thumbnail => (
                &[Get, Head],
                operation(
                    name,
                    TAG_PROVIDER,
                    "A preview image: scaled images, a PDF's first page, or an icon for the type",
                    vec![slug(), id("The item's ID"), count_query("size", "Width in pixels, 16 to 2048 (default 200)"), header_param("If-None-Match", false, "An ETag from an earlier answer")],
                    provider_responses(vec![("200", bytes("PNG or JPEG", "image/png")), ("304", empty("Not modified"))], "ErrorBody", common),
                ),
            ),
            Endpoint::UploadInit => (
                &[Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Reserves a new file; its bytes follow with /upload",
                    vec![
                        slug(),
                        parent(),
                        query("filename", true, "The new file's name"),
                        query("documentId", false, "Workfront's document ID, recorded for /customAction"),
                        query("documentVersionId", false, "Workfront's document version ID, recorded for /customAction"),
                    ],
                    provider_responses(vec![("200", json("The reserved item", schema_ref("ItemMetadata")))], "ErrorBody", conflict),
                )
                .request_body(Some(form_body(&[("parentId", "Folder ID"), ("filename", "File name"), ("documentId", "Workfront document ID"), ("documentVersionId", "Workfront version ID")]))),
            ),
            Endpoint::Upload => (
                &[Put, Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "The bytes of a file reserved by /uploadInit, committed atomically",
                    vec![slug(), id("The ID /uploadInit answered")],
                    provider_responses(vec![("200", json("Stored", schema_ref("UploadOutcome")))], "UploadOutcome", &["400", "403", "404", "413", "429", "500"]),
                )
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .description(Some("The raw bytes whatever the Content-Type; a multipart/form-data body contributes its first file part"))
                        .content("application/octet-stream", ContentBuilder::new().schema(Some(string().content_media_type("application/octet-stream"))).build())
                        .content(
                            "multipart/form-data",
                            ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::Object).property("file", string().content_media_type("application/octet-stream")))).build(),
                        )
                        .required(Some(Required::True))
                        .build(),
                )),
            ),
            Endpoint::CreateFolder => (
                &[Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Creates a folder",
                    vec![slug(), parent(), query("name", true, "The new folder's name")],
                    provider_responses(vec![("200", json("The new folder", schema_ref("ItemMetadata")))], "ErrorBody", conflict),
                )
                .request_body(Some(form_body(&[("parentId", "Folder ID"), ("name", "Folder name")]))),
            ),
            Endpoint::Delete => (
                &[Put, Delete, Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Moves a file or a folder with its contents to the trash",
                    vec![slug(), query("documentId", false, "The item's ID"), query("folderId", false, "The item's ID (a folder)"), query("id", false, "The item's ID")],
                    provider_responses(vec![("200", json("Deleted", schema_ref("StatusOutcome")))], "StatusOutcome", common),
                )
                .request_body(Some(form_body(&[("documentId", "Item ID"), ("folderId", "Item ID"), ("id", "Item ID")]))),
            ),
            Endpoint::Rename => (
                &[Put, Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Renames an item; its ID does not change",
                    vec![slug(), id("The item's ID"), query("name", true, "The new name")],
                    provider_responses(vec![("200", json("Renamed", schema_ref("StatusOutcome")))], "StatusOutcome", conflict),
                )
                .request_body(Some(form_body(&[("id", "Item ID"), ("name", "New name")]))),
            ),
            Endpoint::CustomAction => (
                &[Get, Post],
                operation(
                    name,
                    TAG_PROVIDER,
                    "Runs a custom action declared in /serviceInfo; a failed run still answers 200 with the failure",
                    vec![
                        slug(),
                        query("name", true, "The action's name"),
                        query("documentId", false, "Workfront's document ID, as recorded by /uploadInit"),
                        query("documentVersionId", false, "Workfront's document version ID"),
                        query("id", false, "docbridge's own item ID, instead of Workfront's"),
                    ],
                    provider_responses(vec![("200", json("Ran: success, or failure with a message Workfront shows", schema_ref("StatusOutcome")))], "StatusOutcome", common),
                ),
            ),
        };
        let op = if endpoint == Endpoint::ServiceInfo { op } else { op.securities(Some(provider_security())) };
        paths.push((path, path_item(methods, op, name)));
    }
    paths
}

// ---- signed links (C8) ----

// ---- operations (C25) ----

fn operations_paths() -> Vec<(String, PathItem)> {
    let get = |id: &str, summary: &str, responses: Responses| {
        (id.to_owned(), path_item(&[HttpMethod::Get], operation(id, TAG_OPERATIONS, summary, vec![], responses), id))
    };
    vec![
        (
            "/metrics".to_owned(),
            get(
                "metrics",
                "Prometheus text format: requests, latencies, bytes, uploads in progress",
                self::responses(vec![("200", plain("The metrics"))]),
            )
            .1,
        ),
        (
            "/openapi.json".to_owned(),
            get(
                "openapi",
                "This document",
                self::responses(vec![("200", json("OpenAPI 3.1", ObjectBuilder::new().schema_type(Type::Object)))]),
            )
            .1,
        ),
    ]
}

// ---- OAuth2 authorization server (C4) ----

fn oauth_paths() -> Vec<(String, PathItem)> {
    let authorize_params = vec![
        query("client_id", true, "The integration's Client ID"),
        query("state", true, "Handed back unchanged"),
        query("redirect_uri", false, "Must equal a registered Workfront Redirect URI"),
        query("response_type", false, "code (the default)"),
        query("code_challenge", false, "PKCE S256 challenge"),
        query("code_challenge_method", false, "S256"),
    ];
    let authorize = operation(
        "oauthAuthorize",
        TAG_OAUTH,
        "The login page, then the consent page; Allow redirects to the redirect URI with a code",
        authorize_params,
        responses(vec![
            ("200", html("The login or consent page")),
            ("303", empty("To the redirect URI with code and state, or error and state")),
            ("400", html("An unknown client or a bad redirect URI: an error page, never a redirect")),
            ("429", html("Too many failed logins")),
        ]),
    );
    let authorize: Operation = authorize.build();
    let mut authorize_post = authorize.clone();
    authorize_post.operation_id = Some("oauthAuthorizeSubmit".into());
    authorize_post.summary = Some("Submits the login or the consent form".into());
    authorize_post.request_body = Some(RefOr::T(form_body(&[
        ("username", "The user's name (login form)"),
        ("password", "The user's password (login form)"),
        ("decision", "allow or deny (consent form)"),
        ("csrf", "The form's CSRF token"),
    ])));
    let mut authorize_item = PathItem::new(HttpMethod::Get, authorize);
    authorize_item.merge_operations(PathItem::new(HttpMethod::Post, authorize_post));
    let token = operation(
        "oauthToken",
        TAG_OAUTH,
        "Exchanges a code or a refresh token for tokens (client_secret_post or HTTP Basic)",
        vec![],
        responses(vec![
            ("200", json("Tokens; Cache-Control: no-store", schema_ref("TokenResponse"))),
            ("400", json("RFC 6749 §5.2 error", schema_ref("OAuthErrorBody"))),
            ("401", json("Client authentication failed", schema_ref("OAuthErrorBody"))),
        ]),
    )
    .request_body(Some(form_body(&[
        ("grant_type", "authorization_code or refresh_token"),
        ("code", "The authorization code"),
        ("refresh_token", "The refresh token"),
        ("redirect_uri", "Required when the authorize request carried one"),
        ("client_id", "The Client ID (or HTTP Basic)"),
        ("client_secret", "The Client Secret (or HTTP Basic)"),
        ("code_verifier", "PKCE verifier, when a challenge was sent"),
    ])));
    vec![
        ("/oauth/authorize".to_owned(), authorize_item),
        ("/oauth/token".to_owned(), path_item(&[HttpMethod::Post], token, "oauthToken")),
    ]
}

// ---- admin JSON API (C22) ----

// ---- admin web page ----

// ---- components ----

/// The `{slug}` of an integration's routes, for `#[utoipa::path(params(...))]` (the handlers
/// take it as `Path<String>`).
#[derive(utoipa::IntoParams)]
#[into_params(names("slug"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct SlugParam(
    /// The integration's slug
    String,
);

/// The `{username}` of a user's routes, as [`SlugParam`].
#[derive(utoipa::IntoParams)]
#[into_params(names("username"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct UsernameParam(
    /// The user's name (case-insensitive)
    String,
);

/// `auth` as the administration shows it.
pub(crate) fn auth_label() -> ObjectBuilder {
    string().enum_values(Some(["ApiKey", "OAuth2"]))
}

/// `auth` as the admin API takes it.
pub(crate) fn auth_input() -> ObjectBuilder {
    string().enum_values(Some(["apikey", "oauth2"]))
}

/// The role of users without a grant.
pub(crate) fn default_role() -> ObjectBuilder {
    string().enum_values(Some(["reader", "editor", "deny"]))
}

/// A grant's role.
pub(crate) fn role() -> ObjectBuilder {
    string().enum_values(Some(["reader", "editor"]))
}

/// A custom action's kind.
pub(crate) fn action_kind() -> ObjectBuilder {
    string().enum_values(Some(["move", "copy", "lock", "webhook"]))
}

/// Where an integration's documents live: a configured kind, or `memory`.
pub(crate) fn storage_kind() -> ObjectBuilder {
    string().enum_values(Some(crate::config::STORAGE_KINDS.iter().copied().chain(["memory"])))
}

/// Custom actions in a request: parsed by hand from JSON, described as `CustomActionInput`.
pub(crate) fn custom_actions() -> ArrayBuilder {
    array_of(schema_ref("CustomActionInput"))
}

/// A view's derived schema with the `webhook_secrets` that `admin_api::with_secrets` adds to the
/// answer of the call that generated them.
fn with_webhook_secrets<T: utoipa::ToSchema>() -> RefOr<Schema> {
    let secrets = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("Secrets docbridge generated for webhook actions in this call, by action name: shown once"))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(string().build())))));
    match T::schema() {
        RefOr::T(Schema::Object(mut object)) => {
            object.properties.insert("webhook_secrets".to_owned(), RefOr::T(Schema::Object(secrets.build())));
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

fn components() -> utoipa::openapi::Components {
    let action_input = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A custom action; a webhook without a secret gets a generated one, returned once in webhook_secrets",
        ))
        .property("name", string())
        .required("name")
        .property("display_name", string())
        .required("display_name")
        .property("kind", string().enum_values(Some(["move", "copy", "lock", "webhook"])))
        .required("kind")
        .property("folder", string())
        .property("url", string())
        .property("secret", string())
        .property("timeout_secs", integer())
        .property("retries", integer());
    // The admin API's own types describe themselves too (AuditEntry through the registry's
    // `openapi` feature); CustomActionInput is parsed by hand from JSON. The request
    // bodies and the answers the routes name come with the routes (`admin_api::openapi`).
    ComponentsBuilder::new()
        .schema("IntegrationCredentials", with_webhook_secrets::<crate::setup::IntegrationCredentials>())
        .schema("IntegrationView", with_webhook_secrets::<crate::setup::IntegrationView>())
        .schema_from::<crate::setup::KeyView>()
        .schema_from::<crate::setup::ActionView>()
        .schema("CustomActionInput", action_input)
        .schema_from::<crate::setup::RotatedSecret>()
        .schema_from::<crate::setup::UserView>()
        .schema_from::<crate::setup::GrantView>()
        .schema_from::<docbridge_registry::AuditEntry>()
        // The wire types describe themselves (docbridge-protocol's `openapi` feature): their
        // fields, names and doc comments are the schema, so the two cannot drift apart.
        .schema_from::<docbridge_protocol::ItemMetadata>()
        .schema_from::<docbridge_protocol::ItemKind>()
        .schema_from::<docbridge_protocol::ServiceInfo>()
        .schema_from::<docbridge_protocol::CustomActionInfo>()
        .schema_from::<docbridge_protocol::ErrorBody>()
        .schema_from::<docbridge_protocol::StatusOutcome>()
        .schema_from::<docbridge_protocol::UploadOutcome>()
        .schema_from::<docbridge_protocol::TokenResponse>()
        .schema_from::<docbridge_protocol::OAuthErrorBody>()
        .security_scheme("apiKey", header_key("apiKey", "The integration's ApiKey"))
        .security_scheme("username", header_key("username", "The Workfront user making the call"))
        .security_scheme("bearer", bearer("An access token from /oauth/token (OAuth2 integrations)"))
        .security_scheme("adminToken", bearer("The admin token (admin.token in the configuration)"))
        .security_scheme(
            "adminSession",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "docbridge_admin",
                "The admin page's signed session cookie",
            ))),
        )
        .build()
}

fn header_key(name: &str, description: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, description)))
}

fn bearer(description: &str) -> SecurityScheme {
    SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).description(Some(description)).build())
}
