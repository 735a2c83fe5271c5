//! The OAuth2 login and consent pages driven as a browser drives them, for tests that need a
//! code or a token from a running docbridge.

/// Opens `authorize_url` (the authentication URL with its parameters), logs `user` in, answers
/// the consent page with `decision` (`allow` or `deny`), and answers where docbridge redirects
/// the browser back to.
pub async fn consent(authorize_url: &str, base: &str, user: &str, password: &str, decision: &str) -> url::Url {
    let mut browser = Browser::default();
    let authorize = format!("{base}/oauth/authorize");
    let login = browser.send(browser.http.get(authorize_url)).await;
    assert_eq!(login.0, 200, "login page: {}", login.2);
    let mut form = hidden_fields(&login.2);
    form.extend([("username".to_owned(), user.to_owned()), ("password".to_owned(), password.to_owned())]);
    let consent = browser.send(browser.http.post(&authorize).form(&form)).await;
    assert_eq!(consent.0, 200, "consent page: {}", consent.2);
    let mut form = hidden_fields(&consent.2);
    form.push(("decision".to_owned(), decision.to_owned()));
    let (status, location, body) = browser.send(browser.http.post(&authorize).form(&form)).await;
    assert_eq!(status, 303, "a redirect back to Workfront: {body}");
    url::Url::parse(&location.expect("a Location")).expect("an absolute redirect")
}

/// Logs `user` in at `base`'s `/oauth/authorize` as Workfront sends them there, allows, and
/// answers the code of the redirect to `redirect_uri` (checking the `state` came back unchanged).
pub async fn authorization_code(base: &str, client_id: &str, redirect_uri: &str, user: &str, password: &str) -> String {
    let state = "state from Workfront";
    let mut authorize_url = url::Url::parse(&format!("{base}/oauth/authorize")).expect("a URL");
    authorize_url
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("state", state)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri);
    let location = consent(authorize_url.as_str(), base, user, password, "allow").await;
    let query: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some(state));
    query.get("code").expect("a code").clone()
}

/// Redeems a code at `base`'s token endpoint; answers the access token.
pub async fn access_token(base: &str, code: &str, redirect_uri: &str, client_id: &str, client_secret: &str) -> String {
    let token = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    assert_eq!(token.status().as_u16(), 200, "the code is redeemed");
    let token: serde_json::Value = token.json().await.expect("a token answer");
    token["access_token"].as_str().expect("an access token").to_owned()
}

/// Just enough of a browser for the login and consent pages: no redirects followed, the
/// session cookie kept.
pub struct Browser {
    pub http: reqwest::Client,
    cookie: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
        Browser { http, cookie: None }
    }
}

impl Browser {
    /// A browser on a client of the test's choosing (e.g. one bound to another source address).
    pub fn with_client(http: reqwest::Client) -> Self {
        Browser { http, cookie: None }
    }

    /// Status, `Location` and body.
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.expect("the page answers");
        if let Some(set) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (status, location, response.text().await.expect("a body"))
    }
}

/// The hidden fields of a page's form, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        // askama writes numeric character references.
        s.replace("&#34;", "\"").replace("&#39;", "'").replace("&#60;", "<").replace("&#62;", ">").replace("&#38;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let (value, _) = rest.split_once('"')?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect()
}
