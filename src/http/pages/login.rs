//! `GET/POST /u/login`: the hosted login page (fields `username` and `password`, hidden `state`
//! and `csrf`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::{
    LoginPage, PageForm, PageQuery, SESSION_COOKIE, csrf_cookie, csrf_ok, csrf_refused, error,
    outcome, render,
};
use crate::grants::login::LoginError;
use crate::http::AppState;
use crate::http::extract::ClientIp;

#[derive(Deserialize)]
pub struct StateQuery {
    #[serde(default)]
    state: String,
}

impl StateQuery {
    pub fn state_value(&self) -> String {
        self.state.clone()
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn login_get(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<StateQuery>,
) -> Response {
    let client_name = match state.engine.login_page(&query.state).await {
        Ok(name) => name,
        Err(e) => return error(e),
    };
    let (jar, cookie) = csrf_cookie(&state, jar);
    let csrf = state.engine.minter.keys().secrets().csrf_token(&cookie);
    let page = LoginPage {
        client_name: &client_name,
        state: &query.state,
        csrf: &csrf,
        username: "",
        error: None,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

pub async fn login_post(
    State(state): State<AppState>,
    jar: CookieJar,
    ip: ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    if !csrf_ok(&state, &jar, &form.csrf) {
        return csrf_refused();
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let result = state
        .engine
        .login(
            &form.state,
            &form.username,
            &form.password,
            ip.0,
            user_agent,
        )
        .await;
    match result {
        Ok(done) => {
            let max_age = state.engine.settings.session_absolute;
            let jar = jar.add(super::cookie(
                &state,
                SESSION_COOKIE,
                done.session_cookie,
                "/",
                max_age,
            ));
            (jar, outcome(Ok(done.outcome))).into_response()
        }
        Err(LoginError::Form(message)) => {
            rerender(&state, jar, &form, StatusCode::UNAUTHORIZED, &message).await
        }
        Err(LoginError::Throttled(wait)) => {
            let message = format!("Too many failed attempts. Try again in {wait} seconds.");
            let mut response =
                rerender(&state, jar, &form, StatusCode::TOO_MANY_REQUESTS, &message).await;
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(LoginError::Authorize(e)) => error(e),
    }
}

/// The form again, with a message and the email kept.
async fn rerender(
    state: &AppState,
    jar: CookieJar,
    form: &LoginForm,
    status: StatusCode,
    message: &str,
) -> Response {
    let client_name = match state.engine.login_page(&form.state).await {
        Ok(name) => name,
        Err(e) => return error(e),
    };
    let (jar, cookie) = csrf_cookie(state, jar);
    let csrf = state.engine.minter.keys().secrets().csrf_token(&cookie);
    let page = LoginPage {
        client_name: &client_name,
        state: &form.state,
        csrf: &csrf,
        username: &form.username,
        error: Some(message),
    };
    (jar, render(status, &page)).into_response()
}
