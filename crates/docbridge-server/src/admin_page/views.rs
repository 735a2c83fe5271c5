//! The admin page's templates (`templates/admin/`), rendered on the server: askama escapes every
//! value from the registry or the request; the only script is the copy-button file (`admin.js`).

use askama::Template;
use docbridge_client::validate::{CaseStatus, Report};
use docbridge_registry::{AuditEntry, AuthType, Grant, Integration, User};

use crate::html::{Fragment, fragment};
use crate::setup::IntegrationCredentials;

/// The section a page belongs to, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Integrations,
    Users,
    Audit,
    None,
}

/// A whole page: the shell around a rendered body. `csrf` is the session's token when logged
/// in (the log-out button needs it).
#[derive(Template)]
#[template(path = "admin/layout.html")]
pub struct Layout<'a> {
    pub title: &'a str,
    pub nav: Nav,
    pub csrf: Option<&'a str>,
    pub notice: Option<&'a Notice>,
    pub body: Fragment,
}

/// The shell of a page around its body.
pub fn layout<'a>(
    title: &'a str,
    nav: Nav,
    csrf: Option<&'a str>,
    notice: Option<&'a Notice>,
    body: Fragment,
) -> Layout<'a> {
    Layout { title, nav, csrf, notice, body }
}

/// A one-line message at the top of a page.
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Notice { text: text.into(), error: false }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Notice { text: text.into(), error: true }
    }
}

/// One `<option>` of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices<'a>(options: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice { value: value.to_owned(), label: label.to_owned(), selected: value == selected })
        .collect()
}

fn role_choices(selected: &str) -> Vec<Choice> {
    const ROLES: [(&str, &str); 3] = [
        ("editor", "editor: read and write"),
        ("reader", "reader: read only"),
        ("deny", "deny: only registered users"),
    ];
    choices(ROLES, selected)
}

fn auth_label(auth: AuthType) -> &'static str {
    match auth {
        AuthType::ApiKey => "ApiKey",
        AuthType::OAuth2 => "OAuth2",
    }
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct Login<'a> {
    csrf: &'a str,
    configured: bool,
}

pub fn login(csrf: &str, configured: bool) -> Fragment {
    fragment(&Login { csrf, configured })
}

#[derive(Template)]
#[template(path = "admin/back_link.html")]
struct BackLink;

/// A link back to the admin page, under a page that only says what went wrong.
pub fn back_link() -> Fragment {
    fragment(&BackLink)
}

/// One row of the integrations table.
struct HomeRow {
    slug: String,
    name: String,
    page: String,
    auth: &'static str,
    enabled: bool,
    base_url: String,
    toggle_action: String,
    toggle_label: &'static str,
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct Home<'a> {
    rows: Vec<HomeRow>,
    csrf: &'a str,
}

pub fn home(integrations: &[(Integration, String)], csrf: &str) -> Fragment {
    let rows = integrations
        .iter()
        .map(|(integration, base_url)| {
            let page = format!("/admin/integrations/{}", integration.slug);
            let verb = if integration.enabled { "disable" } else { "enable" };
            HomeRow {
                slug: integration.slug.clone(),
                name: integration.name.clone(),
                toggle_action: format!("{page}/{verb}"),
                toggle_label: if integration.enabled { "Disable" } else { "Enable" },
                page,
                auth: auth_label(integration.auth_type),
                enabled: integration.enabled,
                base_url: base_url.clone(),
            }
        })
        .collect();
    fragment(&Home { rows, csrf })
}

/// The values of the add form, kept when it is shown again with an error.
#[derive(Debug, Clone, Default)]
pub struct IntegrationForm {
    pub name: String,
    pub slug: String,
    pub auth: String,
    pub root: String,
    /// The storage kind; empty: the default integration's.
    pub storage: String,
    pub redirect_uris: String,
    pub request_params: String,
    pub default_role: String,
}

#[derive(Template)]
#[template(path = "admin/new_integration.html")]
struct NewIntegration<'a> {
    csrf: &'a str,
    form: &'a IntegrationForm,
    root_hint: &'a str,
    auth_choices: Vec<Choice>,
    storage_choices: Vec<Choice>,
    role_choices: Vec<Choice>,
}

/// The storage kinds of the add form; the empty value follows the default integration.
const STORAGE_CHOICES: [(&str, &str); 7] = [
    ("", "as the default integration"),
    ("fs", "a folder on this server"),
    ("s3", "S3 ([storage.s3])"),
    ("webdav", "WebDAV: Nextcloud, ownCloud ([storage.webdav])"),
    ("sftp", "SFTP: a NAS or file server over SSH ([storage.sftp])"),
    ("azblob", "Azure Blob Storage ([storage.azblob])"),
    ("gcs", "Google Cloud Storage ([storage.gcs])"),
];

pub fn new_integration(csrf: &str, form: &IntegrationForm, root_hint: &str) -> Fragment {
    let role = if form.default_role.is_empty() { "editor" } else { &form.default_role };
    fragment(&NewIntegration {
        csrf,
        form,
        root_hint,
        auth_choices: choices([("apikey", "ApiKey"), ("oauth2", "OAuth2")], &form.auth),
        storage_choices: choices(STORAGE_CHOICES, &form.storage),
        role_choices: role_choices(role),
    })
}

/// The values to type into Workfront's *Add Custom Integration* form, with copy buttons; the
/// secret only when it was just issued.
#[derive(Template)]
#[template(path = "admin/workfront_values.html")]
struct WorkfrontValues<'a> {
    credentials: &'a IntegrationCredentials,
    /// Label, input ID, value.
    rows: Vec<(&'static str, &'static str, String)>,
    /// An ApiKey integration whose key is not shown: say where to get one.
    key_note: bool,
}

fn workfront_values(credentials: &IntegrationCredentials) -> Fragment {
    let mut rows = vec![
        ("Name", "wf-name", credentials.name.clone()),
        ("Base API URL", "wf-base-url", credentials.base_api_url.clone()),
    ];
    if let Some(key) = &credentials.api_key {
        rows.push(("ApiKey", "wf-api-key", key.clone()));
    }
    if credentials.auth == "OAuth2" {
        rows.push(("Authentication URL", "wf-auth-url", credentials.authentication_url.clone().unwrap_or_default()));
        rows.push(("Token Endpoint URL", "wf-token-url", credentials.token_endpoint_url.clone().unwrap_or_default()));
        rows.push(("Client ID", "wf-client-id", credentials.client_id.clone().unwrap_or_default()));
        if let Some(secret) = &credentials.client_secret {
            rows.push(("Client Secret", "wf-client-secret", secret.clone()));
        }
        for (i, uri) in credentials.redirect_uris.iter().enumerate() {
            let id = if i == 0 { "wf-redirect-uri" } else { "wf-redirect-uri-more" };
            rows.push(("Workfront Redirect URI", id, uri.clone()));
        }
    }
    let key_note = credentials.api_key.is_none() && credentials.auth == "ApiKey";
    fragment(&WorkfrontValues { credentials, rows, key_note })
}

#[derive(Template)]
#[template(path = "admin/issued.html")]
struct Issued<'a> {
    credentials: &'a IntegrationCredentials,
    what: &'a str,
    values: Fragment,
}

/// Shown right after an integration is added or a secret rotated: the only time the secret is shown.
pub fn issued(credentials: &IntegrationCredentials, what: &str) -> Fragment {
    fragment(&Issued { credentials, what, values: workfront_values(credentials) })
}

/// What the integration page shows about keys.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub hint: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin/integration.html")]
struct IntegrationPage<'a> {
    i: &'a Integration,
    auth: &'static str,
    api_key: bool,
    keys: &'a [KeyInfo],
    csrf: &'a str,
    values: Fragment,
    role_choices: Vec<Choice>,
}

impl IntegrationPage<'_> {
    /// The address of one of the page's forms: the integration's own for `""`.
    fn action(&self, verb: &str) -> String {
        match verb {
            "" => format!("/admin/integrations/{}", self.i.slug),
            verb => format!("/admin/integrations/{}/{verb}", self.i.slug),
        }
    }
}

pub fn integration(
    integration: &Integration,
    credentials: &IntegrationCredentials,
    keys: &[KeyInfo],
    csrf: &str,
) -> Fragment {
    fragment(&IntegrationPage {
        i: integration,
        auth: auth_label(integration.auth_type),
        api_key: integration.auth_type == AuthType::ApiKey,
        keys,
        csrf,
        values: workfront_values(credentials),
        role_choices: role_choices(integration.default_role.as_str()),
    })
}

#[derive(Template)]
#[template(path = "admin/test_report.html")]
struct TestReport<'a> {
    integration: &'a Integration,
    report: &'a Report,
}

impl TestReport<'_> {
    fn badge(&self, status: &CaseStatus) -> &'static str {
        match status {
            CaseStatus::Pass => "on",
            CaseStatus::Warn => "warn",
            CaseStatus::Fail => "fail",
            CaseStatus::Skip => "skip",
        }
    }
}

pub fn test_report(integration: &Integration, report: &Report) -> Fragment {
    fragment(&TestReport { integration, report })
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct Users<'a> {
    users: &'a [User],
    grants: &'a [Grant],
    integrations: &'a [Integration],
    csrf: &'a str,
    user_choices: Vec<Choice>,
    integration_choices: Vec<Choice>,
    role_choices: Vec<Choice>,
}

impl Users<'_> {
    fn grants_of(&self, username: &str) -> Vec<&Grant> {
        self.grants.iter().filter(|g| g.username == username).collect()
    }
}

pub fn users(users: &[User], grants: &[Grant], integrations: &[Integration], csrf: &str) -> Fragment {
    fragment(&Users {
        users,
        grants,
        integrations,
        csrf,
        user_choices: choices(users.iter().map(|u| (u.username.as_str(), u.username.as_str())), ""),
        integration_choices: choices(integrations.iter().map(|i| (i.slug.as_str(), i.name.as_str())), ""),
        role_choices: choices([("reader", "reader"), ("editor", "editor")], "reader"),
    })
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct Audit<'a> {
    entries: &'a [AuditEntry],
    integration_choices: Vec<Choice>,
    limit: usize,
}

pub fn audit(entries: &[AuditEntry], integrations: &[Integration], filter: Option<&str>, limit: usize) -> Fragment {
    let options =
        [("", "All integrations")].into_iter().chain(integrations.iter().map(|i| (i.slug.as_str(), i.name.as_str())));
    fragment(&Audit { entries, integration_choices: choices(options, filter.unwrap_or("")), limit })
}
