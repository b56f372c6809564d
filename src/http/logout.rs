//! `GET /v2/logout` (Auth0: `returnTo`, `client_id`) and `GET /oidc/logout` (RP-Initiated Logout:
//! `post_logout_redirect_uri`, `id_token_hint`, `client_id`, `state`): end the SSO session and
//! redirect only to one of the client's `allowed_logout_urls`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use super::AppState;
use super::pages::{self, SESSION_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/logout", get(auth0_logout_get))
        .route("/oidc/logout", get(oidc_logout_get))
}

#[derive(Deserialize)]
struct Auth0Logout {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct OidcLogout {
    post_logout_redirect_uri: Option<String>,
    id_token_hint: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

async fn auth0_logout_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Auth0Logout>,
) -> Response {
    finish(&state, jar, q.client_id, q.return_to, None).await
}

async fn oidc_logout_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<OidcLogout>,
) -> Response {
    let client_id = q.client_id.or_else(|| {
        q.id_token_hint
            .as_deref()
            .and_then(|t| state.engine.id_token_hint_client(t))
    });
    finish(&state, jar, client_id, q.post_logout_redirect_uri, q.state).await
}

async fn finish(
    state: &AppState,
    jar: CookieJar,
    client_id: Option<String>,
    return_to: Option<String>,
    oidc_state: Option<String>,
) -> Response {
    let session = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
    let target = match state
        .engine
        .logout(
            session.as_deref(),
            client_id.as_deref(),
            return_to.as_deref(),
        )
        .await
    {
        Ok(target) => target,
        // The authorization endpoint's answer to the same store fault.
        Err(e) => return pages::error(crate::grants::authorize::AuthorizeError::from(e)),
    };
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    match target {
        Some(url) => {
            let url = match oidc_state {
                Some(s) => {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    format!(
                        "{url}{sep}state={}",
                        form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    )
                }
                None => url,
            };
            (jar, pages::found(&url)).into_response()
        }
        None => {
            let note = if return_to.is_some() {
                "You have been logged out. (The return address is not registered for this application, so you were not sent back.)"
            } else {
                "You have been logged out."
            };
            (
                jar,
                pages::message(StatusCode::OK, "Logged out", None, note),
            )
                .into_response()
        }
    }
}
