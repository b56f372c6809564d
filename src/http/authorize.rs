//! `GET /authorize` (and `POST`, OIDC Core §3.1.2.1): hand the request and the SSO session to the
//! engine, render what comes next.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum_extra::extract::CookieJar;

use super::AppState;
use super::extract::{ClientIp, body_pairs, request_context};
use super::pages::{self, SESSION_COOKIE};
use crate::grants::Params;
use crate::grants::authorize::{AuthorizeError, AuthorizeErrorCode};
use crate::grants::refresh_token::RequestContext;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route(
            "/u/login",
            get(pages::login::login_get).post(pages::login::login_post),
        )
        .route(
            "/u/consent",
            get(pages::consent::consent_get).post(pages::consent::consent_post),
        )
}

async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Some(v.into_owned())));
    let ctx = request_context(ip, &headers);
    run(&state, &jar, Ok(Params::from_pairs_deferred(pairs)), &ctx).await
}

async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = request_context(ip, &headers);
    let params = body_pairs(&headers, &body).map(Params::from_pairs_deferred);
    run(&state, &jar, params, &ctx).await
}

async fn run(
    state: &AppState,
    jar: &CookieJar,
    params: Result<Params, crate::grants::OAuthError>,
    ctx: &RequestContext,
) -> Response {
    let params = match params {
        Ok(params) => params,
        Err(e) => {
            return pages::error(AuthorizeError::page(
                AuthorizeErrorCode::InvalidRequest,
                e.description.into_owned(),
            ));
        }
    };
    let session = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
    pages::outcome(
        state
            .engine
            .authorize(&params, session.as_deref(), ctx)
            .await,
    )
}
