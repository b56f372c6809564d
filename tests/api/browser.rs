//! A small test-side "browser" for the interactive flows: it keeps the cookies the server sets and
//! sends them back, follows no redirect by itself, and reads hidden inputs out of the pages. Plus
//! the shared set-up of the login tests (users, clients, PKCE) and helpers to read redirects.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, TestResponse};

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const NAME: &str = "Ada Lovelace";
pub const CALLBACK: &str = "https://app.example.com/callback";
pub const CALLBACK_2: &str = "https://app.example.com/other";
pub const LOGOUT_URL: &str = "https://app.example.com/bye";
pub const API: &str = "https://api.example.com/";

/// A cookie as the browser keeps it.
#[derive(Debug, Clone)]
pub struct StoredCookie {
    pub value: String,
    pub path: String,
    /// The raw `set-cookie` line it came from (to check attributes).
    pub raw: String,
}

pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: BTreeMap<String, StoredCookie>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&StoredCookie> {
        self.cookies.get(name)
    }

    fn cookie_header(&self, path: &str) -> Option<String> {
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let list: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, c)| path.starts_with(&c.path))
            .map(|(name, c)| format!("{name}={}", c.value))
            .collect();
        (!list.is_empty()).then(|| list.join("; "))
    }

    /// Remembers (or forgets) the cookies a response sets.
    pub fn absorb(&mut self, response: &TestResponse) {
        for line in response.headers.get_all(header::SET_COOKIE) {
            let raw = line.to_str().expect("set-cookie is ASCII").to_owned();
            let mut parts = raw.split(';').map(str::trim);
            let (name, value) = parts
                .next()
                .and_then(|nv| nv.split_once('='))
                .expect("name=value");
            let mut path = "/".to_owned();
            let mut removed = value.is_empty();
            for attr in parts {
                let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
                match key.to_ascii_lowercase().as_str() {
                    "path" => path = val.to_owned(),
                    "max-age" if val.trim_start_matches('-').parse::<i64>().is_ok() => {
                        removed |= val.starts_with('-') || val == "0";
                    }
                    _ => {}
                }
            }
            if removed {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(
                    name.to_owned(),
                    StoredCookie {
                        value: value.to_owned(),
                        path,
                        raw: raw.clone(),
                    },
                );
            }
        }
    }

    pub async fn send(&mut self, method: Method, path: &str, form: Option<String>) -> TestResponse {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::USER_AGENT, "TestBrowser/1.0");
        if let Some(cookies) = self.cookie_header(path) {
            builder = builder.header(header::COOKIE, cookies);
        }
        let body = match form {
            Some(form) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form)
            }
            None => Body::empty(),
        };
        let response = self.app.request(builder.body(body).unwrap()).await;
        self.absorb(&response);
        response
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    pub async fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> TestResponse {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.send(Method::POST, path, Some(body)).await
    }

    /// `GET /authorize` with these parameters.
    pub async fn authorize(&mut self, params: &[(&str, &str)]) -> TestResponse {
        self.get(&authorize_path(params)).await
    }

    /// Opens the login page a redirect points at, then submits the form with these credentials.
    /// Answers the login page and the answer to the form.
    pub async fn login_at(
        &mut self,
        login_location: &str,
        username: &str,
        password: &str,
    ) -> (TestResponse, TestResponse) {
        assert!(
            login_location.starts_with("/u/login?state="),
            "expected the login page, got {login_location}"
        );
        let page = self.get(login_location).await;
        assert_eq!(page.status, 200, "login page: {}", page.text());
        let inputs = hidden_inputs(&page.text());
        let answer = self
            .post_form(
                "/u/login",
                &[
                    ("state", &inputs["state"]),
                    ("csrf", &inputs["csrf"]),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        (page, answer)
    }

    /// Authorizes, expecting the login page, and logs in as the standard user; answers the
    /// response to the login form.
    pub async fn authorize_and_login(&mut self, params: &[(&str, &str)]) -> TestResponse {
        let response = self.authorize(params).await;
        let login = location(&response);
        self.login_at(&login, EMAIL, PASSWORD).await.1
    }

    /// Opens the consent page a redirect points at and presses `action` (accept or deny).
    pub async fn consent_at(&mut self, consent_location: &str, action: &str) -> TestResponse {
        assert!(
            consent_location.starts_with("/u/consent?state="),
            "expected the consent page, got {consent_location}"
        );
        let page = self.get(consent_location).await;
        assert_eq!(page.status, 200, "consent page: {}", page.text());
        let inputs = hidden_inputs(&page.text());
        self.post_form(
            "/u/consent",
            &[
                ("state", &inputs["state"]),
                ("csrf", &inputs["csrf"]),
                ("action", action),
            ],
        )
        .await
    }
}

pub fn authorize_path(params: &[(&str, &str)]) -> String {
    format!(
        "/authorize?{}",
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
    )
}

/// The `location` header of a redirect, asserting there is one.
#[track_caller]
pub fn location(response: &TestResponse) -> String {
    // 302 or 303; never 307/308, which would re-post a login form (RFC 9700 §4.12).
    assert!(
        matches!(response.status.as_u16(), 302 | 303),
        "expected a redirect, got {}: {}",
        response.status,
        response.text()
    );
    response
        .header("location")
        .expect("location header")
        .to_owned()
}

/// Where a redirect goes and the parameters it carries, from the query (`'?'`) or the fragment
/// (`'#'`).
#[track_caller]
pub fn redirect_params(url: &str, separator: char) -> (String, BTreeMap<String, String>) {
    let (base, rest) = url
        .split_once(separator)
        .unwrap_or_else(|| panic!("no {separator:?} in {url}"));
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(rest.as_bytes()) {
        assert!(
            params.insert(k.to_string(), v.to_string()).is_none(),
            "{k} twice in {url}"
        );
    }
    (base.to_owned(), params)
}

/// The parameters of an answer in the query of `CALLBACK` (asserting it goes there).
#[track_caller]
pub fn callback_query(response: &TestResponse) -> BTreeMap<String, String> {
    let (base, params) = redirect_params(&location(response), '?');
    assert_eq!(base, CALLBACK);
    params
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let code = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
            }
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of every tag named `tag` (`<input …>`), unescaped.
pub fn tags(html: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let end = rest.find('>').unwrap_or(rest.len());
        let mut attrs = BTreeMap::new();
        let mut body = &rest[..end];
        while let Some(eq) = body.find("=\"") {
            let name = body[..eq]
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned();
            let after = &body[eq + 2..];
            let close = after.find('"').unwrap_or(after.len());
            attrs.insert(name, unescape(&after[..close]));
            body = &after[(close + 1).min(after.len())..];
        }
        out.push(attrs);
        rest = &rest[end..];
    }
    out
}

/// `name → value` of the hidden inputs of a page.
pub fn hidden_inputs(html: &str) -> BTreeMap<String, String> {
    tags(html, "input")
        .into_iter()
        .filter(|a| a.get("type").is_some_and(|t| t == "hidden"))
        .filter_map(|a| Some((a.get("name")?.clone(), a.get("value")?.clone())))
        .collect()
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = tessera::tokens::secrets::random_token(32);
    assert!(verifier.len() >= 43, "verifier {verifier}");
    (verifier.clone(), s256(&verifier))
}

pub fn s256(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// OIDC's `at_hash`: base64url of the left half of SHA-256.
pub fn left_half_hash(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

/// Creates a database user through the Management API; answers its user_id.
pub async fn create_user(app: &TestApp, email: &str, password: &str, name: &str) -> String {
    let token = app.management_token(None).await;
    let response = app
        .send_json(
            Method::POST,
            "/api/v2/users",
            Some(json!({
                "connection": "Username-Password-Authentication",
                "email": email,
                "password": password,
                "name": name,
                "email_verified": true,
            })),
            Some(&token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()["user_id"].as_str().unwrap().to_owned()
}

/// Changes a user through the Management API.
pub async fn patch_user(app: &TestApp, user_id: &str, body: Value) {
    let token = app.management_token(None).await;
    let path = format!(
        "/api/v2/users/{}",
        form_urlencoded::byte_serialize(user_id.as_bytes()).collect::<String>()
    );
    let response = app
        .send_json(Method::PATCH, &path, Some(body), Some(&token))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// The standard user and a first-party SPA (public, PKCE) with `CALLBACK` registered. Answers (user_id, client_id).
pub async fn spa_setup(app: &TestApp) -> (String, String) {
    let user_id = create_user(app, EMAIL, PASSWORD, NAME).await;
    let client = app
        .create_client(json!({
            "name": "Ada's SPA",
            "app_type": "spa",
            "callbacks": [CALLBACK],
            "allowed_logout_urls": [LOGOUT_URL],
        }))
        .await;
    (user_id, client["client_id"].as_str().unwrap().to_owned())
}

/// A confidential regular web app with `CALLBACK`; answers (client_id, client_secret).
pub async fn web_client(app: &TestApp, extra: Value) -> (String, String) {
    let mut body = json!({
        "name": "Web app",
        "app_type": "regular_web",
        "callbacks": [CALLBACK],
        "allowed_logout_urls": [LOGOUT_URL],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let client = app.create_client(body).await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The API `API` with scopes `read:things write:things`.
pub async fn create_things_api(app: &TestApp, allow_offline_access: bool) {
    app.create_api(json!({
        "identifier": API,
        "name": "Things API",
        "allow_offline_access": allow_offline_access,
        "scopes": [{"value": "read:things"}, {"value": "write:things"}],
    }))
    .await;
}

/// Exchanges a code at the token endpoint (public client: no secret).
pub async fn exchange(app: &TestApp, pairs: &[(&str, &str)]) -> TestResponse {
    let mut all = vec![("grant_type", "authorization_code")];
    all.extend_from_slice(pairs);
    app.post_form("/oauth/token", &all, None).await
}

pub async fn jwks(app: &TestApp) -> Value {
    app.get("/.well-known/jwks.json", None).await.json()
}

/// A whole code flow with PKCE for the SPA, from `/authorize` to the token response (asserted
/// 200). `extra` adds authorize parameters (scope, audience, nonce…).
pub async fn code_flow_tokens(
    browser: &mut Browser<'_>,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Value {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let response = browser.authorize(&params).await;
    let response = if location(&response).starts_with("/u/login") {
        browser
            .login_at(&location(&response), EMAIL, PASSWORD)
            .await
            .1
    } else {
        response
    };
    let query = callback_query(&response);
    assert_eq!(query["state"], "st");
    let tokens = exchange(
        browser.app,
        &[
            ("client_id", client_id),
            ("code", &query["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    tokens.json()
}

/// Owned authorize parameters.
pub type Params = Vec<(&'static str, String)>;

/// `response_type=code` for `client_id` to `CALLBACK` with state `st` and a fresh PKCE challenge,
/// plus `extra`; answers the parameters and the verifier.
pub fn code_params(client_id: &str, extra: &[(&'static str, &str)]) -> (Params, String) {
    let (verifier, challenge) = pkce();
    let mut params: Params = vec![
        ("client_id", client_id.to_owned()),
        ("response_type", "code".into()),
        ("redirect_uri", CALLBACK.into()),
        ("state", "st".into()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".into()),
    ];
    params.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    (params, verifier)
}

pub fn refs(params: &Params) -> Vec<(&str, &str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl Browser<'_> {
    pub async fn authorize_with(&mut self, params: &Params) -> TestResponse {
        self.authorize(&refs(params)).await
    }
}
