//! `GET/POST /u/consent`: the consent page for third-party clients (`action=accept` or
//! `action=deny`, hidden `state` and `csrf`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::login::StateQuery;
use super::{
    ConsentPage, PageForm, PageQuery, SESSION_COOKIE, csrf_cookie, csrf_ok, csrf_refused, error,
    message, outcome, render,
};
use crate::http::AppState;
use crate::http::extract::{ClientIp, request_context};

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

pub async fn consent_get(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<StateQuery>,
) -> Response {
    let txn = query.state_value();
    let view = match state.engine.consent_page(&txn).await {
        Ok(view) => view,
        Err(e) => return error(e),
    };
    let (jar, cookie) = csrf_cookie(&state, jar);
    let csrf = state.engine.minter.keys().secrets().csrf_token(&cookie);
    let page = ConsentPage {
        client_name: &view.client_name,
        audience_name: &view.audience_name,
        scopes: &view.scopes,
        state: &txn,
        csrf: &csrf,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

pub async fn consent_post(
    State(state): State<AppState>,
    jar: CookieJar,
    ip: ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    if !csrf_ok(&state, &jar, &form.csrf) {
        return csrf_refused();
    }
    let accept = match form.action.as_str() {
        "accept" => true,
        "deny" => false,
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "Something went wrong",
                Some("invalid_request"),
                "Choose Accept or Decline.",
            );
        }
    };
    let session = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
    let ctx = request_context(ip, &headers);
    outcome(
        state
            .engine
            .consent(&form.state, session.as_deref(), accept, &ctx)
            .await,
    )
}
