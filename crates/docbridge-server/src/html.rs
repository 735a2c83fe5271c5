//! What every HTML page shares: rendering askama templates (`templates/`, checked at compile
//! time, every value escaped unless a template says otherwise), the security headers with each
//! family's Content-Security-Policy, redirects, and the session cookies of the admin and OAuth2
//! pages. No handler assembles HTML itself: this module's unit tests grep the sources for it.

use std::fmt;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// A rendered template, to be placed inside another one without escaping it again. Only
/// [`fragment`] makes one, so nothing but template output is ever trusted as markup.
#[derive(Debug, Clone, Default)]
pub struct Fragment(String);

impl fmt::Display for Fragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Fragment {}

/// Renders a template to a [`Fragment`]. Rendering fails only if a value's `Display` does;
/// ours do not, but a failure is logged and shows as an empty fragment rather than a panic.
pub fn fragment(template: &impl Template) -> Fragment {
    match template.render() {
        Ok(html) => Fragment(html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a template");
            Fragment(String::new())
        }
    }
}

/// The plain page shell of the signed-link and OAuth2 pages: a title, a body, an inline style.
#[derive(Template)]
#[template(path = "page.html")]
pub struct Page<'a> {
    pub title: &'a str,
    pub body: Fragment,
}

/// A heading and one paragraph: what the link and OAuth2 pages say when they refuse.
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub heading: &'a str,
    pub message: &'a str,
}

/// A page in the plain shell that says what went wrong.
pub fn message_page(status: StatusCode, heading: &str, message: &str, csp: Csp<'_>) -> Response {
    page(status, &Page { title: "docbridge", body: fragment(&Message { heading, message }) }, csp)
}

/// Which pages a response belongs to: each family gets the narrowest policy that works.
#[derive(Debug, Clone, Copy)]
pub enum Csp<'a> {
    /// The admin page: scripts and styles only from its own files.
    Admin,
    /// The signed-link pages: previews of the file (images, media, a PDF frame) from our own
    /// links, and the page's inline style.
    Link,
    /// The OAuth2 pages. Browsers apply `form-action` to the redirect that answers a form, and
    /// the consent form's answer is the redirect to Workfront: its origin is allowed.
    OAuth { redirect_origin: Option<&'a str> },
}

impl Csp<'_> {
    fn header(self) -> HeaderValue {
        const ADMIN: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        const LINK: &str = "default-src 'none'; img-src 'self'; media-src 'self'; frame-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
        const OAUTH: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
        match self {
            Csp::Admin => HeaderValue::from_static(ADMIN),
            Csp::Link => HeaderValue::from_static(LINK),
            Csp::OAuth { redirect_origin: None } => HeaderValue::from_static(OAUTH),
            Csp::OAuth { redirect_origin: Some(origin) } => HeaderValue::from_str(&format!(
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self' {origin}; frame-ancestors 'none'"
            ))
            .unwrap_or(HeaderValue::from_static(OAUTH)),
        }
    }
}

/// Adds the headers every page of ours carries: the policy, no MIME sniffing, no framing, no
/// referrer (link pages' URLs hold signatures), never cached (pages show secrets and CSRF
/// tokens).
pub fn secured(mut response: Response, csp: Csp<'_>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.header());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A whole page from its template, with the headers of its family.
pub fn page(status: StatusCode, template: &impl Template, csp: Csp<'_>) -> Response {
    match template.render() {
        Ok(html) => secured((status, Html(html)).into_response(), csp),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            secured((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(), csp)
        }
    }
}

/// `303 See Other` to `location`, never cached and without a referrer. A location that cannot
/// be a header (it never comes from a client as such) is a 500.
pub fn redirect(location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        tracing::error!("a redirect to an address that is not a valid header value");
        return secured(StatusCode::INTERNAL_SERVER_ERROR.into_response(), Csp::Admin);
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, value);
    secured(response, Csp::Admin)
}

/// A session cookie: `HttpOnly`, scoped to a path under the public URL's, `Secure` under an
/// https public URL.
#[derive(Debug, Clone, Copy)]
pub struct Cookie {
    pub name: &'static str,
    /// Below the public URL's own path: `/admin`, `/oauth`.
    pub path: &'static str,
    /// `Strict` for the admin page; `Lax` for OAuth2, whose login page Workfront opens from
    /// another site.
    pub same_site: &'static str,
}

impl Cookie {
    /// The cookie's value in a request, if it carries one.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(self.name)?.strip_prefix('='))
    }

    /// Adds `Set-Cookie` to `response`; a `max_age` of 0 removes the cookie.
    pub fn set(&self, response: &mut Response, public_url: &str, value: &str, max_age: i64) {
        let public = url::Url::parse(public_url).ok();
        let prefix = public.as_ref().map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        let secure = if public.is_some_and(|u| u.scheme() == "https") { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; Path={prefix}{}; Max-Age={}; HttpOnly; SameSite={}{secure}",
            self.name,
            self.path,
            max_age.max(0),
            self.same_site
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOKIE: Cookie = Cookie { name: "docbridge_oauth", path: "/oauth", same_site: "Lax" };

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; docbridge_oauth=xyz; b=2"));
        assert_eq!(COOKIE.read(&headers), Some("xyz"));
        assert_eq!(Cookie { name: "docbridge", ..COOKIE }.read(&headers), None);
    }

    #[test]
    fn cookies_are_scoped_below_the_public_path() {
        let mut response = StatusCode::OK.into_response();
        COOKIE.set(&mut response, "https://docs.example.com/base/", "v", 60);
        assert_eq!(
            response.headers()[header::SET_COOKIE],
            "docbridge_oauth=v; Path=/base/oauth; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[derive(Template)]
    #[template(source = "<p title=\"{{ text }}\">{{ text }}</p>", ext = "html")]
    struct Probe<'a> {
        text: &'a str,
    }

    #[test]
    fn templates_escape_what_they_show() {
        let html = fragment(&Probe { text: "<script>\"'&" }).to_string();
        assert_eq!(html, "<p title=\"&#60;script&#62;&#34;&#39;&#38;\">&#60;script&#62;&#34;&#39;&#38;</p>");
    }

    /// The first string literal after each `format!(` or `write!(..., ` in `text` that holds an
    /// HTML tag (`<p`, `</`, `<!`).
    fn formatted_tags(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for needle in [concat!("format", "!("), concat!("write", "!(")] {
            for (at, _) in text.match_indices(needle) {
                let rest = &text[at + needle.len()..];
                let Some(open) = rest.find('"') else { continue };
                let literal: String = rest[open + 1..]
                    .chars()
                    .scan(false, |escaped, c| {
                        let end = c == '"' && !*escaped;
                        *escaped = c == '\\' && !*escaped;
                        (!end).then_some(c)
                    })
                    .collect();
                let tag = literal
                    .as_bytes()
                    .windows(2)
                    .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'));
                if tag && open < 200 {
                    found.push(literal);
                }
            }
        }
        found
    }

    #[test]
    fn the_guard_finds_formatted_html() {
        let source = concat!("let a = format", "!(\"<p>{}</p>\", x); let b = format", "!(\"{a} < {b}\");");
        assert_eq!(formatted_tags(source), vec!["<p>{}</p>".to_owned()]);
    }

    /// Issue #18: HTML comes from templates only. No source assembles markup with `format!`
    /// (where one missed escape was a stored injection), and only this module makes `Html`.
    #[test]
    fn no_html_is_assembled_outside_templates() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(files.len() > 20, "the server's sources: {files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            assert_eq!(formatted_tags(text), Vec::<String>::new(), "{} formats HTML", file.display());
            if !file.ends_with("html.rs") {
                assert!(!text.contains(concat!("Html", "(")), "{} builds a page outside html.rs", file.display());
            }
        }
    }
}
