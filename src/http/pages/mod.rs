//! Server-rendered pages (askama templates in `templates/`): login, consent, messages and the
//! `form_post` response mode, with the security headers and cookies of DESIGN.md "Rules that keep
//! it safe".

pub mod consent;
pub mod login;

use askama::Template;
use axum::extract::{Form, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;

use crate::grants::authorize::{AuthorizeError, AuthorizeOutcome, Redirect, ResponseMode};
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_COOKIE: &str = "tessera_csrf";

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub state: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub audience_name: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub error: Option<&'a str>,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    params: &'a [(String, String)],
}

/// Headers every page sends: no caching, no framing, no sniffing, no referrer, no scripts but
/// the `form_post` page's own.
fn page_headers(scripts: bool) -> [(HeaderName, HeaderValue); 4] {
    let csp = if scripts {
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    } else {
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
    };
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Renders a template with the page headers and `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, page_headers(false), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// A page's form body (`Form`), or the error page: a repeated or malformed field, a wrong content
/// type or an oversized body is answered as every other fault of the pages is (axum's own
/// rejection is plain text).
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Form::<T>::from_request(req, state)
            .await
            .map(|Form(value)| Self(value))
            .map_err(|rejection| bad_form(rejection.status()))
    }
}

/// A page's query string (`Query`), or the error page (see [`PageForm`]).
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| bad_form(rejection.status()))
    }
}

fn bad_form(status: StatusCode) -> Response {
    // 4xx as axum classified it (415 content type, 413 size, 400/422 fields), shown as 400 for a
    // field: a browser user gets the same page whichever it was.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    message(
        status,
        "Something went wrong",
        Some("invalid_request"),
        "The form was sent with a missing, repeated or malformed field. Go back and try again.",
    )
}

pub fn message(status: StatusCode, title: &str, error: Option<&str>, text: &str) -> Response {
    render(
        status,
        &MessagePage {
            title,
            error,
            message: text,
        },
    )
}

/// Answers the client: 302 to the redirect URI (query or fragment), or an auto-submitting form.
pub fn respond(redirect: &Redirect) -> Response {
    match redirect.mode {
        ResponseMode::FormPost => {
            let page = FormPostPage {
                action: &redirect.redirect_uri,
                params: &redirect.params,
            };
            match page.render() {
                Ok(html) => (StatusCode::OK, page_headers(true), Html(html)).into_response(),
                Err(e) => {
                    tracing::error!(error = %e, "template failed");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }
        _ => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            found(&redirect.location()),
        )
            .into_response(),
    }
}

/// `302 Found` to `location`, as Auth0 answers (browsers follow it with a GET after a POST too).
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => message(
            StatusCode::BAD_REQUEST,
            "Something went wrong",
            Some("invalid_request"),
            "The redirect address is not valid.",
        ),
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Renders what comes next in an authorization.
pub fn outcome(result: Result<AuthorizeOutcome, AuthorizeError>) -> Response {
    match result {
        Ok(AuthorizeOutcome::Login(txn)) => found(&format!("/u/login?state={}", encode(&txn))),
        Ok(AuthorizeOutcome::Consent(txn)) => found(&format!("/u/consent?state={}", encode(&txn))),
        Ok(AuthorizeOutcome::Respond(redirect)) => respond(&redirect),
        Err(e) => error(e),
    }
}

pub fn error(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Redirect(redirect) => respond(&redirect),
        AuthorizeError::Page {
            status,
            error,
            description,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = message(
                status,
                "Something went wrong",
                Some(&error.as_str()),
                &description,
            );
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::grants::UNAVAILABLE_RETRY_AFTER),
                );
            }
            response
        }
    }
}

/// Cookies are `HttpOnly`; with an https issuer `Secure; SameSite=None` (silent authentication
/// runs in a cross-site iframe), with plain http `SameSite=Lax`.
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: i64,
) -> Cookie<'static> {
    let https = state.engine.minter.issuer().starts_with("https://");
    Cookie::build((name, value))
        .http_only(true)
        .secure(https)
        .same_site(if https { SameSite::None } else { SameSite::Lax })
        .path(path)
        .max_age(time::Duration::seconds(max_age))
        .build()
}

/// The CSRF cookie value of this browser, made if it has none.
pub fn csrf_cookie(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(existing) = jar.get(CSRF_COOKIE).map(|c| c.value().to_owned())
        && existing.len() >= 32
    {
        return (jar, existing);
    }
    let value = crate::tokens::secrets::random_token(32);
    let jar = jar.add(cookie(state, CSRF_COOKIE, value.clone(), "/u", 86_400));
    (jar, value)
}

/// Whether a form's CSRF token belongs to the browser's CSRF cookie.
pub fn csrf_ok(state: &AppState, jar: &CookieJar, token: &str) -> bool {
    let cookie = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    state
        .engine
        .minter
        .keys()
        .secrets()
        .verify_csrf(&cookie, token)
}

/// The answer to a form that failed the CSRF check.
pub fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        Some("invalid_request"),
        "The form could not be verified (CSRF check). Go back to the application and start again; make sure cookies are enabled.",
    )
}
