//! The admin page's HTML, rendered on the server. Every value from the registry or the request
//! goes through `escape`; the only script is the copy-button file (`admin.js`).

use docbridge_client::validate::{CaseStatus, Report};
use docbridge_registry::{AuditEntry, AuthType, Grant, Integration, User};

use crate::links::escape;
use crate::setup::IntegrationCredentials;

/// The section a page belongs to, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Integrations,
    Users,
    Audit,
    None,
}

/// A whole page. `csrf` is the session's token when logged in (the log-out button needs it).
pub fn layout(title: &str, nav: Nav, csrf: Option<&str>, notice: Option<&Notice>, body: &str) -> String {
    let link = |target: Nav, href: &str, label: &str| {
        let class = if nav == target { " class=\"active\"" } else { "" };
        format!("<a href=\"{href}\"{class}>{label}</a>")
    };
    let menu = match csrf {
        Some(csrf) => format!(
            "<nav>{}{}{}</nav><form method=\"post\" action=\"/admin/logout\">{}<button class=\"link\" type=\"submit\">Log out</button></form>",
            link(Nav::Integrations, "/admin", "Integrations"),
            link(Nav::Users, "/admin/users", "Users"),
            link(Nav::Audit, "/admin/audit", "Audit trail"),
            csrf_field(csrf)
        ),
        None => "<nav></nav>".to_owned(),
    };
    let notice = notice.map(Notice::render).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · docbridge admin</title><link rel=\"stylesheet\" href=\"/admin/static/admin.css\"><script src=\"/admin/static/admin.js\" defer></script></head>\
         <body><header><div class=\"bar\"><span class=\"brand\">docbridge</span>{menu}</div></header><main>{notice}{body}</main></body></html>",
        escape(title)
    )
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

    fn render(&self) -> String {
        let class = if self.error { "notice error" } else { "notice" };
        format!("<div class=\"{class}\" role=\"status\">{}</div>", escape(&self.text))
    }
}

pub fn csrf_field(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(csrf))
}

/// A button that posts the CSRF token (and nothing else) to `action`.
fn post_button(action: &str, csrf: &str, label: &str, class: &str) -> String {
    post_button_back(action, csrf, label, class, None)
}

/// [`post_button`] that asks to come back to `back` afterwards.
fn post_button_back(action: &str, csrf: &str, label: &str, class: &str, back: Option<&str>) -> String {
    let back =
        back.map(|b| format!("<input type=\"hidden\" name=\"back\" value=\"{}\">", escape(b))).unwrap_or_default();
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\">{}{back}<button type=\"submit\" class=\"{class}\">{}</button></form>",
        escape(action),
        csrf_field(csrf),
        escape(label)
    )
}

/// A read-only value with a copy button.
fn copy_row(id: &str, value: &str) -> String {
    format!(
        "<div class=\"copyrow\"><input type=\"text\" readonly id=\"{id}\" value=\"{}\" aria-label=\"{id}\"><button type=\"button\" class=\"secondary\" data-copy=\"{id}\">Copy</button></div>",
        escape(value)
    )
}

pub fn login(csrf: &str, configured: bool) -> String {
    let form = if configured {
        format!(
            "<form method=\"post\" action=\"/admin/login\">{}<label for=\"token\">Admin token <span class=\"hint\">(admin.token in the configuration)</span></label>\
             <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required autofocus>\
             <p><button type=\"submit\">Log in</button></p></form>",
            csrf_field(csrf)
        )
    } else {
        "<p>The admin page is off: no admin token is configured. Set <code>admin.token</code> in the configuration file \
         (or <code>DOCBRIDGE_ADMIN__TOKEN</code>) and restart docbridge.</p>"
            .to_owned()
    };
    format!("<div class=\"login\"><h1>Administration</h1>{form}</div>")
}

fn state_badge(enabled: bool) -> &'static str {
    if enabled { "<span class=\"badge on\">enabled</span>" } else { "<span class=\"badge off\">disabled</span>" }
}

fn auth_label(auth: AuthType) -> &'static str {
    match auth {
        AuthType::ApiKey => "ApiKey",
        AuthType::OAuth2 => "OAuth2",
    }
}

pub fn home(integrations: &[(Integration, String)], csrf: &str) -> String {
    let rows: String = integrations
        .iter()
        .map(|(integration, base_url)| {
            let slug = escape(&integration.slug);
            let toggle = if integration.enabled {
                post_button_back(&format!("/admin/integrations/{}/disable", integration.slug), csrf, "Disable", "secondary", Some("/admin"))
            } else {
                post_button_back(&format!("/admin/integrations/{}/enable", integration.slug), csrf, "Enable", "secondary", Some("/admin"))
            };
            format!(
                "<tr data-slug=\"{slug}\"><td><a href=\"/admin/integrations/{slug}\">{}</a><div class=\"muted mono\">{slug}</div></td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"actions\">{toggle}</td></tr>",
                escape(&integration.name),
                auth_label(integration.auth_type),
                state_badge(integration.enabled),
                escape(base_url)
            )
        })
        .collect();
    let table = if integrations.is_empty() {
        "<p>No integration yet.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>Integration</th><th>Authentication</th><th>State</th><th>Base API URL</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    format!(
        "<h1>Integrations</h1><p class=\"lead\">Each integration is one <em>Custom Integration</em> in Workfront (Setup › Documents › Custom Integrations).</p>\
         {table}<p><a class=\"button\" href=\"/admin/integrations/new\">Add an integration</a></p>"
    )
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

/// A `<select>`; values and labels are escaped, as they are usernames and integration names.
fn select(name: &str, options: &[(&str, &str)], selected: &str) -> String {
    let options: String = options
        .iter()
        .map(|(value, label)| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                escape(value),
                if *value == selected { " selected" } else { "" },
                escape(label)
            )
        })
        .collect();
    let name = escape(name);
    format!("<select id=\"{name}\" name=\"{name}\">{options}</select>")
}

const ROLES: [(&str, &str); 3] =
    [("editor", "editor: read and write"), ("reader", "reader: read only"), ("deny", "deny: only registered users")];

/// The storage kinds of the add form; the empty value follows the default integration.
const STORAGE_CHOICES: [(&str, &str); 6] = [
    ("", "as the default integration"),
    ("fs", "a folder on this server"),
    ("s3", "S3 ([storage.s3])"),
    ("webdav", "WebDAV: Nextcloud, ownCloud ([storage.webdav])"),
    ("azblob", "Azure Blob Storage ([storage.azblob])"),
    ("gcs", "Google Cloud Storage ([storage.gcs])"),
];

pub fn new_integration(csrf: &str, form: &IntegrationForm, root_hint: &str) -> String {
    format!(
        "<h1>Add an integration</h1><form method=\"post\" action=\"/admin/integrations\">{}\
         <label for=\"name\">Name <span class=\"hint\">(what Workfront shows)</span></label><input type=\"text\" id=\"name\" name=\"name\" required value=\"{}\">\
         <label for=\"slug\">Slug <span class=\"hint\">(part of the Base API URL; empty: from the name)</span></label><input type=\"text\" id=\"slug\" name=\"slug\" value=\"{}\" pattern=\"[a-z0-9][a-z0-9-]*\">\
         <label for=\"auth\">Authentication type</label>{}\
         <label for=\"storage\">Where the documents live</label>{}\
         <label for=\"root\">Documents folder <span class=\"hint\">(empty: {})</span></label><input type=\"text\" id=\"root\" name=\"root\" value=\"{}\">\
         <label for=\"redirect_uris\">Workfront Redirect URI <span class=\"hint\">(OAuth2: copy it from Workfront's form; one per line)</span></label><textarea id=\"redirect_uris\" name=\"redirect_uris\">{}</textarea>\
         <label for=\"request_params\">Request parameters <span class=\"hint\">(key=value, one per line)</span></label><textarea id=\"request_params\" name=\"request_params\">{}</textarea>\
         <label for=\"default_role\">Role of unregistered users</label>{}\
         <p><button type=\"submit\">Add integration</button> <a class=\"button secondary\" href=\"/admin\">Cancel</a></p></form>",
        csrf_field(csrf),
        escape(&form.name),
        escape(&form.slug),
        select("auth", &[("apikey", "ApiKey"), ("oauth2", "OAuth2")], &form.auth),
        select("storage", &STORAGE_CHOICES, &form.storage),
        escape(root_hint),
        escape(&form.root),
        escape(&form.redirect_uris),
        escape(&form.request_params),
        select("default_role", &ROLES, if form.default_role.is_empty() { "editor" } else { &form.default_role }),
    )
}

/// The values to type into Workfront's *Add Custom Integration* form, with copy buttons; the
/// secret only when it was just issued.
fn workfront_values(credentials: &IntegrationCredentials) -> String {
    let mut rows = vec![
        ("Name", "wf-name", credentials.name.clone()),
        ("Base API URL", "wf-base-url", credentials.base_api_url.clone()),
    ];
    let mut key_note = String::new();
    match &credentials.api_key {
        Some(key) => rows.push(("ApiKey", "wf-api-key", key.clone())),
        None if credentials.auth == "ApiKey" => {
            key_note = "<dt>ApiKey</dt><dd class=\"muted\">Shown only when issued: rotate the key below to get a new one.</dd>".to_owned();
        }
        None => {}
    }
    if credentials.auth == "OAuth2" {
        rows.push(("Authentication URL", "wf-auth-url", credentials.authentication_url.clone().unwrap_or_default()));
        rows.push(("Token Endpoint URL", "wf-token-url", credentials.token_endpoint_url.clone().unwrap_or_default()));
        rows.push(("Client ID", "wf-client-id", credentials.client_id.clone().unwrap_or_default()));
        if let Some(secret) = &credentials.client_secret {
            rows.push(("Client Secret", "wf-client-secret", secret.clone()));
        }
        for (i, uri) in credentials.redirect_uris.iter().enumerate() {
            rows.push((
                "Workfront Redirect URI",
                if i == 0 { "wf-redirect-uri" } else { "wf-redirect-uri-more" },
                uri.clone(),
            ));
        }
    }
    let mut items: String =
        rows.iter().map(|(label, id, value)| format!("<dt>{label}</dt><dd>{}</dd>", copy_row(id, value))).collect();
    items.push_str(&key_note);
    format!("<dl class=\"values\"><dt>Authentication Type</dt><dd>{}</dd>{items}</dl>", escape(&credentials.auth))
}

/// Shown right after an integration is added or a secret rotated: the only time the secret is shown.
pub fn issued(credentials: &IntegrationCredentials, what: &str) -> String {
    format!(
        "<h1>{}</h1><div class=\"secret\"><strong>Copy the {what} now: it is shown only this once.</strong> docbridge keeps only its hash.</div>\
         <h2>Values for Workfront's Add Custom Integration form</h2>{}\
         <p><a class=\"button\" href=\"/admin/integrations/{}\">Continue</a></p>",
        escape(&credentials.name),
        workfront_values(credentials),
        escape(&credentials.slug)
    )
}

/// What the integration page shows about keys.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub hint: String,
    pub created: String,
}

pub fn integration(
    integration: &Integration,
    credentials: &IntegrationCredentials,
    keys: &[KeyInfo],
    csrf: &str,
) -> String {
    let slug = integration.slug.as_str();
    let action = |verb: &str| format!("/admin/integrations/{slug}/{verb}");
    let toggle = if integration.enabled {
        post_button(&action("disable"), csrf, "Disable", "secondary")
    } else {
        post_button(&action("enable"), csrf, "Enable", "secondary")
    };
    let secret_section = match integration.auth_type {
        AuthType::ApiKey => {
            let listed: String = keys
                .iter()
                .map(|k| format!("<li><code>{}…</code> issued {}</li>", escape(&k.hint), escape(&k.created)))
                .collect();
            let revoke = if keys.len() > 1 {
                post_button(&action("revoke-old-keys"), csrf, "Revoke all but the newest key", "secondary")
            } else {
                String::new()
            };
            format!(
                "<h2>ApiKey</h2><p>Active keys (shown by their first characters):</p><ul>{listed}</ul>\
                 <p class=\"muted\">Rotating issues a new key and keeps the old ones valid until you revoke them, so Workfront keeps working while you paste the new key.</p>\
                 <div class=\"actions\">{}{revoke}</div>",
                post_button(&action("rotate"), csrf, "Rotate key", "")
            )
        }
        AuthType::OAuth2 => format!(
            "<h2>Client secret</h2><p class=\"muted\">Rotating replaces the client secret at once: paste the new one into Workfront right after.</p><div class=\"actions\">{}</div>",
            post_button(&action("rotate"), csrf, "Rotate client secret", "")
        ),
    };
    let edit = format!(
        "<h2>Edit</h2><form method=\"post\" action=\"/admin/integrations/{}\">{}\
         <label for=\"name\">Name</label><input type=\"text\" id=\"name\" name=\"name\" required value=\"{}\">\
         <label for=\"root\">Documents folder</label><input type=\"text\" id=\"root\" name=\"root\" required value=\"{}\">\
         <label for=\"redirect_uris\">Workfront Redirect URI <span class=\"hint\">(one per line)</span></label><textarea id=\"redirect_uris\" name=\"redirect_uris\">{}</textarea>\
         <label for=\"request_params\">Request parameters <span class=\"hint\">(key=value, one per line)</span></label><textarea id=\"request_params\" name=\"request_params\">{}</textarea>\
         <label for=\"default_role\">Role of unregistered users</label>{}\
         <p><button type=\"submit\">Save</button></p></form>",
        escape(slug),
        csrf_field(csrf),
        escape(&integration.name),
        escape(&integration.storage_root),
        escape(&integration.redirect_uris.join("\n")),
        escape(&integration.request_params.join("\n")),
        select("default_role", &ROLES, integration.default_role.as_str()),
    );
    let test = format!(
        "<h2>Connection test</h2><p class=\"muted\">Calls this integration at its Base API URL as Workfront would, with a temporary credential revoked afterwards, \
         and runs the conformance validator's core cases. It creates a scratch folder and deletes it.</p>\
         <form method=\"post\" action=\"{}\">{}<label for=\"test_user\">As user</label><input type=\"text\" id=\"test_user\" name=\"username\" value=\"docbridge-connection-test\">\
         <p><button type=\"submit\">Run connection test</button></p></form>",
        escape(&action("test")),
        csrf_field(csrf)
    );
    let delete = format!(
        "<h2>Delete</h2><details><summary>Delete this integration…</summary><p>Its keys, tokens, grants and item index go; the documents stay in <code>{}</code>. \
         Workfront's links to its documents stop working.</p><form method=\"post\" action=\"{}\">{}<label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I understand</label>\
         <p><button type=\"submit\" class=\"danger\">Delete integration</button></p></form></details>",
        escape(&integration.storage_root),
        escape(&action("delete")),
        csrf_field(csrf)
    );
    let actions: String = integration
        .custom_actions
        .iter()
        .map(|a| {
            format!("<li><code>{}</code> ({}): {}</li>", escape(&a.name), escape(&a.display_name), a.kind.as_str())
        })
        .collect();
    let actions =
        if actions.is_empty() { "<p class=\"muted\">None.</p>".to_owned() } else { format!("<ul>{actions}</ul>") };
    format!(
        "<h1>{}</h1><p class=\"lead\">{} · {} · <span class=\"mono\">{}</span></p><div class=\"actions\">{toggle}<a class=\"button secondary\" href=\"/admin/audit?integration={}\">Audit trail</a></div>\
         <div class=\"card\"><h2>Values for Workfront's Add Custom Integration form</h2>{}</div>\
         {secret_section}{test}<h2>Custom actions</h2>{actions}{edit}{delete}",
        escape(&integration.name),
        state_badge(integration.enabled),
        auth_label(integration.auth_type),
        escape(slug),
        escape(slug),
        workfront_values(credentials),
    )
}

pub fn test_report(integration: &Integration, report: &Report) -> String {
    let rows: String = report
        .results
        .iter()
        .map(|case| {
            let class = match case.status {
                CaseStatus::Pass => "on",
                CaseStatus::Warn => "warn",
                CaseStatus::Fail => "fail",
                CaseStatus::Skip => "skip",
            };
            format!(
                "<tr><td><span class=\"badge {class}\">{}</span></td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{} ms</td></tr>",
                case.status.label(),
                escape(case.id),
                escape(case.description),
                escape(&case.message),
                case.duration_ms
            )
        })
        .collect();
    let s = &report.summary;
    let verdict = if report.has_failures() {
        "<div class=\"notice error\">The connection test found problems: Workfront will not work with this integration as it is.</div>"
    } else {
        "<div class=\"notice\">The connection test passed: Workfront can reach and use this integration.</div>"
    };
    format!(
        "<h1>Connection test: {}</h1>{verdict}<p>{} passed, {} failed, {} warned, {} skipped, in {} ms, against <code>{}</code>.</p>\
         <table><thead><tr><th>Result</th><th>Case</th><th>Checks</th><th>Details</th><th>Time</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><a class=\"button\" href=\"/admin/integrations/{}\">Back to the integration</a></p>",
        escape(&integration.name),
        s.passed,
        s.failed,
        s.warned,
        s.skipped,
        report.duration_ms,
        escape(&report.base_url),
        escape(&integration.slug)
    )
}

pub fn users(users: &[User], grants: &[Grant], integrations: &[Integration], csrf: &str) -> String {
    let rows: String = users
        .iter()
        .map(|user| {
            let mine: String = grants
                .iter()
                .filter(|g| g.username == user.username)
                .map(|g| {
                    let folder = g.folder.as_ref().map(|f| format!(" in folder <code>{}</code>", escape(f.as_str()))).unwrap_or_default();
                    format!(
                        "<li><code>{}</code>: {}{folder} <form class=\"inline\" method=\"post\" action=\"/admin/grants/revoke\">{}<input type=\"hidden\" name=\"username\" value=\"{}\"><input type=\"hidden\" name=\"integration\" value=\"{}\"><button type=\"submit\" class=\"secondary\">Revoke</button></form></li>",
                        escape(&g.integration),
                        g.role.as_str(),
                        csrf_field(csrf),
                        escape(&g.username),
                        escape(&g.integration)
                    )
                })
                .collect();
            let roles = if mine.is_empty() { "<span class=\"muted\">each integration's default role</span>".to_owned() } else { format!("<ul>{mine}</ul>") };
            format!(
                "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td><td><form class=\"inline\" method=\"post\" action=\"/admin/users/delete\">{}<input type=\"hidden\" name=\"username\" value=\"{}\"><button type=\"submit\" class=\"secondary\">Delete</button></form></td></tr>",
                escape(&user.username),
                roles,
                user.created_at.format("%Y-%m-%d"),
                csrf_field(csrf),
                escape(&user.username)
            )
        })
        .collect();
    let table = if users.is_empty() {
        "<p>No registered user: ApiKey callers get each integration's default role, and nobody can log in to an OAuth2 integration.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>User</th><th>Roles</th><th>Since</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    let user_options: Vec<(&str, &str)> = users.iter().map(|u| (u.username.as_str(), u.username.as_str())).collect();
    let integration_options: Vec<(&str, &str)> =
        integrations.iter().map(|i| (i.slug.as_str(), i.name.as_str())).collect();
    let grant_form = if users.is_empty() || integrations.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Give a role</h2><form method=\"post\" action=\"/admin/grants\">{}<label for=\"grant_user\">User</label>{}<label for=\"grant_integration\">Integration</label>{}\
             <label for=\"grant_role\">Role</label>{}<label for=\"folder\">Confine to folder <span class=\"hint\">(a folder's ID; empty: the whole library)</span></label>\
             <input type=\"text\" id=\"folder\" name=\"folder\"><p><button type=\"submit\">Save role</button></p></form>",
            csrf_field(csrf),
            select("username", &user_options, "").replacen("id=\"username\"", "id=\"grant_user\"", 1),
            select("integration", &integration_options, "").replacen(
                "id=\"integration\"",
                "id=\"grant_integration\"",
                1
            ),
            select("role", &[("reader", "reader"), ("editor", "editor")], "reader").replacen(
                "id=\"role\"",
                "id=\"grant_role\"",
                1
            ),
        )
    };
    format!(
        "<h1>Users</h1><p class=\"lead\">Users log in on the OAuth2 login page; an ApiKey call's <code>username</code> that matches a user gets that user's role.</p>{table}\
         <h2>Add a user</h2><form method=\"post\" action=\"/admin/users\">{}<label for=\"new_username\">Username <span class=\"hint\">(as Workfront sends it: usually the e-mail address)</span></label>\
         <input type=\"text\" id=\"new_username\" name=\"username\" required autocomplete=\"off\"><label for=\"new_password\">Password</label>\
         <input type=\"password\" id=\"new_password\" name=\"password\" required autocomplete=\"new-password\"><p><button type=\"submit\">Add user</button></p></form>{grant_form}",
        csrf_field(csrf)
    )
}

pub fn audit(entries: &[AuditEntry], integrations: &[Integration], filter: Option<&str>, limit: usize) -> String {
    let mut options = vec![("", "All integrations")];
    options.extend(integrations.iter().map(|i| (i.slug.as_str(), i.name.as_str())));
    let rows: String = entries
        .iter()
        .map(|e| {
            format!(
                "<tr><td class=\"num\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                escape(&e.actor),
                escape(&e.integration),
                escape(&e.operation),
                escape(e.item_id.as_deref().unwrap_or("")),
                escape(&e.result),
                escape(e.detail.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let table = if entries.is_empty() {
        "<p>Nothing recorded yet.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>When (UTC)</th><th>Who</th><th>Integration</th><th>Change</th><th>Item</th><th>Result</th><th>Detail</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    format!(
        "<h1>Audit trail</h1><p class=\"lead\">Every change, newest first (the latest {limit}).</p>\
         <form method=\"get\" action=\"/admin/audit\" class=\"actions\">{}<button type=\"submit\" class=\"secondary\">Show</button></form>{table}",
        select("integration", &options, filter.unwrap_or(""))
    )
}
