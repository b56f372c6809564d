//! The authorization endpoint (RFC 6749 §3.1, §4.1, §4.2; OIDC Core §3): validating the request,
//! deciding between the login page, the consent page and an answer, and answering with a code or
//! tokens. Errors go back to the client only once its redirect URI is known to be registered
//! (RFC 6749 §4.1.2.1); before that they are shown on an error page.

use serde::{Deserialize, Serialize};

use super::Engine;
use super::issue::{UserTokens, granted_scope};
use super::params::Params;
use super::refresh_token::{NewFamily, RequestContext};
use crate::clock::Timestamp;
use crate::domain::{AuthMethod, AuthorizationCode, Client, GrantType, Scope, User};
use crate::tokens::secrets::{random_token, sha256};

/// Authorization-endpoint error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizeErrorCode {
    /// RFC 6749 §4.1.2.1: missing, invalid or repeated parameter.
    InvalidRequest,
    /// RFC 6749 §4.1.2.1: the client may not use this response type.
    UnauthorizedClient,
    /// RFC 6749 §4.1.2.1: the user or the server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the scope is invalid.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: an unexpected failure.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unavailable.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must log in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must consent.
    ConsentRequired,
}

impl AuthorizeErrorCode {
    pub fn as_str(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => "server_error".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    Code,
    Token,
    IdToken,
    IdTokenToken,
}

impl ResponseType {
    fn parse(s: &str) -> Option<Self> {
        let mut parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(Self::Code),
            ["token"] => Some(Self::Token),
            ["id_token"] => Some(Self::IdToken),
            ["id_token", "token"] => Some(Self::IdTokenToken),
            _ => None,
        }
    }
    fn issues_access_token(self) -> bool {
        matches!(self, Self::Token | Self::IdTokenToken)
    }
    fn issues_id_token(self) -> bool {
        matches!(self, Self::IdToken | Self::IdTokenToken)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    Default,
    None,
    Login,
    Consent,
}

/// A validated authorization request; it travels sealed through the login and consent pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub response_type: ResponseType,
    pub response_mode: ResponseMode,
    pub scope: String,
    pub audience: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub device: Option<String>,
}

/// The request plus what already happened to it (sealed; see [`Engine::seal`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub req: AuthorizeRequest,
    pub expires_at: Timestamp,
    /// The user logged in during this transaction (satisfies `prompt=login`).
    pub logged_in: bool,
    /// The user consented during this transaction (satisfies `prompt=consent`).
    pub consented: bool,
}

/// An answer to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl Redirect {
    /// The URL to redirect to for `query` and `fragment` modes.
    pub fn location(&self) -> String {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.params.iter())
            .finish();
        match self.mode {
            ResponseMode::Fragment => format!("{}#{encoded}", self.redirect_uri),
            _ => {
                let sep = if self.redirect_uri.contains('?') {
                    '&'
                } else {
                    '?'
                };
                format!("{}{sep}{encoded}", self.redirect_uri)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Not redirectable: an error page with this HTTP status.
    Page {
        status: u16,
        error: AuthorizeErrorCode,
        description: String,
    },
    /// An error answered to the client's redirect URI.
    Redirect(Redirect),
}

impl AuthorizeError {
    pub fn page(error: AuthorizeErrorCode, description: impl Into<String>) -> Self {
        Self::Page {
            status: 400,
            error,
            description: description.into(),
        }
    }
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(e: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::InvalidText(_) = e {
            return Self::page(
                AuthorizeErrorCode::InvalidRequest,
                crate::domain::NUL_REFUSED,
            );
        }
        // The same answer as the token endpoint's for the same fault, as a page.
        let e = super::OAuthError::from(e);
        let error = if e.code == super::ErrorCode::TemporarilyUnavailable {
            AuthorizeErrorCode::TemporarilyUnavailable
        } else {
            AuthorizeErrorCode::ServerError
        };
        Self::Page {
            status: e.code.status(),
            error,
            description: e.description.into_owned(),
        }
    }
}

impl From<super::OAuthError> for AuthorizeError {
    fn from(e: super::OAuthError) -> Self {
        Self::Page {
            status: 500,
            error: AuthorizeErrorCode::ServerError,
            description: e.description.into_owned(),
        }
    }
}

/// What to do next with an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Show the login page for this sealed transaction.
    Login(String),
    /// Show the consent page for this sealed transaction.
    Consent(String),
    /// Answer the client.
    Respond(Redirect),
}

fn redirect_error(
    req_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    error: AuthorizeErrorCode,
    description: impl Into<String>,
) -> AuthorizeError {
    let mut params = vec![
        ("error".to_owned(), error.as_str()),
        ("error_description".to_owned(), description.into()),
    ];
    if let Some(state) = state {
        params.push(("state".into(), state.to_owned()));
    }
    AuthorizeError::Redirect(Redirect {
        redirect_uri: req_uri.to_owned(),
        mode,
        params,
    })
}

/// Auth0's legacy flow (seeds 000, 001): a client with `oidc_conformant: false` may get a
/// refresh token from an implicit response. OIDC-conformant clients never do (seed 002).
fn legacy_implicit_refresh(client: &Client, req: &AuthorizeRequest) -> bool {
    !client.oidc_conformant && req.response_type.issues_access_token()
}

/// RFC 7636 §4.2: 43 to 128 characters of the unreserved set (an S256 challenge is exactly 43).
pub fn valid_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl Engine {
    /// Validates a request to `/authorize`.
    pub async fn parse_authorize(
        &self,
        params: &Params,
    ) -> Result<(AuthorizeRequest, Client), AuthorizeError> {
        use AuthorizeErrorCode::*;
        // A defect in the parameters that name the redirect URI cannot be sent to it.
        for name in ["client_id", "redirect_uri"] {
            if let Some(error) = params.defect_of(name) {
                return Err(AuthorizeError::page(
                    InvalidRequest,
                    error.description.clone(),
                ));
            }
        }
        let client_id = params.get("client_id").ok_or_else(|| {
            AuthorizeError::page(InvalidRequest, "Missing required parameter: client_id")
        })?;
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or_else(|| AuthorizeError::page(InvalidRequest, "Unknown client."))?;
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(uri) if client.callbacks.iter().any(|c| c == uri) => (uri.to_owned(), true),
            Some(_) => {
                return Err(AuthorizeError::page(
                    InvalidRequest,
                    "The redirect_uri is not registered for this client (callbacks must match exactly).",
                ));
            }
            None if client.callbacks.len() == 1 => (client.callbacks[0].clone(), false),
            None => {
                return Err(AuthorizeError::page(
                    InvalidRequest,
                    "Missing required parameter: redirect_uri",
                ));
            }
        };
        let state = params.get("state");
        let response_type = params.get("response_type").map(ResponseType::parse);
        let default_mode = match response_type {
            Some(Some(ResponseType::Code)) | None | Some(None) => ResponseMode::Query,
            _ => ResponseMode::Fragment,
        };
        let mode = match params.get("response_mode") {
            None => default_mode,
            Some("query") => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some("form_post") => ResponseMode::FormPost,
            Some(other) => {
                return Err(redirect_error(
                    &redirect_uri,
                    default_mode,
                    state,
                    InvalidRequest,
                    format!("Unsupported response_mode: {other}"),
                ));
            }
        };
        let fail = |code, description: String| {
            redirect_error(&redirect_uri, mode, state, code, description)
        };
        // Any other repeated or unstorable parameter goes back to the client (its value dropped:
        // a repeated `state` or `response_mode` is answered without it or in the default mode).
        if let Some(defect) = params.defect() {
            return Err(fail(InvalidRequest, defect.error.description.to_string()));
        }
        let response_type = match response_type {
            None => {
                return Err(fail(
                    InvalidRequest,
                    "Missing required parameter: response_type".into(),
                ));
            }
            Some(None) => {
                return Err(fail(
                    UnsupportedResponseType,
                    format!(
                        "Unsupported response_type: {} (use code, token, id_token or id_token token)",
                        params.get("response_type").unwrap_or_default()
                    ),
                ));
            }
            Some(Some(t)) => t,
        };
        if response_type != ResponseType::Code && mode == ResponseMode::Query {
            return Err(fail(
                InvalidRequest,
                "Tokens are never sent in the query: use response_mode fragment or form_post."
                    .into(),
            ));
        }
        let needed_grant = if response_type == ResponseType::Code {
            GrantType::AuthorizationCode
        } else {
            GrantType::Implicit
        };
        if !client.allows_grant(needed_grant) {
            return Err(fail(
                UnauthorizedClient,
                format!(
                    "Grant type '{}' not allowed for the client.",
                    needed_grant.as_str()
                ),
            ));
        }
        let scope = params.get("scope").unwrap_or("openid").to_owned();
        let nonce = params.get("nonce").map(str::to_owned);
        if response_type.issues_id_token() {
            if !Scope::parse(&scope).contains("openid") {
                return Err(fail(
                    InvalidScope,
                    "An id_token response requires the openid scope.".into(),
                ));
            }
            if nonce.is_none() {
                return Err(fail(
                    InvalidRequest,
                    "Missing required parameter: nonce (required for id_token responses)".into(),
                ));
            }
        }
        let code_challenge = params.get("code_challenge").map(str::to_owned);
        match params.get("code_challenge_method") {
            None | Some("S256") => {}
            Some("plain") => {
                return Err(fail(
                    InvalidRequest,
                    "code_challenge_method plain is not supported: use S256.".into(),
                ));
            }
            Some(other) => {
                return Err(fail(
                    InvalidRequest,
                    format!("Unsupported code_challenge_method: {other}"),
                ));
            }
        }
        if code_challenge.is_none() && params.get("code_challenge_method").is_some() {
            return Err(fail(
                InvalidRequest,
                "Missing required parameter: code_challenge".into(),
            ));
        }
        if let Some(challenge) = &code_challenge {
            if response_type != ResponseType::Code {
                return Err(fail(
                    InvalidRequest,
                    "code_challenge only applies to response_type code.".into(),
                ));
            }
            if params.get("code_challenge_method").is_none() {
                return Err(fail(
                    InvalidRequest,
                    "Missing required parameter: code_challenge_method (S256)".into(),
                ));
            }
            if challenge.len() != 43 || !valid_pkce_value(challenge) {
                return Err(fail(InvalidRequest, "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters).".into()));
            }
        } else if response_type == ResponseType::Code
            && client.token_endpoint_auth_method == AuthMethod::None
        {
            return Err(fail(
                InvalidRequest,
                "Public clients must use PKCE: send code_challenge and code_challenge_method=S256."
                    .into(),
            ));
        }
        let audience = params.get("audience").map(str::to_owned);
        if self
            .audience_api(audience.as_deref())
            .await
            .map_err(AuthorizeError::from)?
            .is_none()
        {
            return Err(fail(
                InvalidRequest,
                format!("Service not found: {}", audience.unwrap_or_default()),
            ));
        }
        let prompt = match params.get("prompt").map(|p| Scope::parse(p).into_vec()) {
            None => Prompt::Default,
            Some(list) if list.iter().any(|p| p == "none") => {
                if list.len() > 1 {
                    return Err(fail(
                        InvalidRequest,
                        "prompt=none cannot be combined with other values.".into(),
                    ));
                }
                Prompt::None
            }
            Some(list) if list.iter().any(|p| p == "login") => Prompt::Login,
            Some(list) if list.iter().any(|p| p == "consent") => Prompt::Consent,
            Some(_) => Prompt::Default,
        };
        let request = AuthorizeRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            redirect_uri_given,
            response_type,
            response_mode: mode,
            scope,
            audience,
            state: state.map(str::to_owned),
            nonce,
            code_challenge,
            prompt,
            device: params.get("device").map(str::to_owned),
        };
        Ok((request, client))
    }

    /// `GET /authorize`: validate, then log in, ask for consent, or answer.
    #[tracing::instrument(skip_all, fields(client_id = params.get("client_id").unwrap_or("-")))]
    pub async fn authorize(
        &self,
        params: &Params,
        session_cookie: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<AuthorizeOutcome, AuthorizeError> {
        let (req, client) = self.parse_authorize(params).await?;
        let txn = Transaction {
            expires_at: self.clock.now() + self.settings.transaction_lifetime,
            req,
            logged_in: false,
            consented: false,
        };
        let session = match session_cookie {
            Some(cookie) => self.session_user(cookie).await?,
            None => None,
        };
        self.proceed(txn, &client, session.map(|(s, u)| (u, s.auth_time)), ctx)
            .await
    }

    /// Decides the next step for a transaction, given the logged-in user (and their auth_time).
    pub(super) async fn proceed(
        &self,
        txn: Transaction,
        client: &Client,
        user: Option<(User, Timestamp)>,
        ctx: &RequestContext,
    ) -> Result<AuthorizeOutcome, AuthorizeError> {
        use AuthorizeErrorCode::*;
        let req = &txn.req;
        let fail = |code, d: &str| {
            redirect_error(
                &req.redirect_uri,
                req.response_mode,
                req.state.as_deref(),
                code,
                d,
            )
        };
        let Some((user, auth_time)) = user.filter(|_| txn.logged_in || req.prompt != Prompt::Login)
        else {
            if req.prompt == Prompt::None {
                return Err(fail(LoginRequired, "Login required"));
            }
            return Ok(AuthorizeOutcome::Login(self.seal(&txn)?));
        };
        let api = self
            .audience_api(req.audience.as_deref())
            .await?
            .ok_or_else(|| fail(InvalidRequest, "Service not found"))?;
        let mut scope = granted_scope(&Scope::parse(&req.scope), &api);
        if req.response_type != ResponseType::Code && !legacy_implicit_refresh(client, req) {
            // Never a refresh token from an implicit flow of an OIDC-conformant client (seed 002).
            scope = scope.iter().filter(|s| *s != "offline_access").collect();
        }
        let needs_consent = if req.prompt == Prompt::Consent {
            !txn.consented
        } else if client.is_first_party || txn.consented {
            false
        } else {
            let grant = self
                .store
                .get_grant(&user.user_id, &client.client_id, &api.identifier)
                .await?;
            match grant {
                Some(g) => scope.iter().any(|s| !g.scope.iter().any(|x| x == s)),
                None => true,
            }
        };
        if needs_consent {
            if req.prompt == Prompt::None {
                return Err(fail(ConsentRequired, "Consent required"));
            }
            return Ok(AuthorizeOutcome::Consent(self.seal(&txn)?));
        }
        Ok(AuthorizeOutcome::Respond(
            self.respond(req, client, &user, &api, &scope, auth_time, ctx)
                .await?,
        ))
    }

    /// Answers the client: a code, or tokens for the implicit response types (and, for a legacy
    /// client that was granted `offline_access`, a refresh token: seeds 000, 001).
    #[allow(clippy::too_many_arguments)]
    async fn respond(
        &self,
        req: &AuthorizeRequest,
        client: &Client,
        user: &User,
        api: &crate::domain::ResourceServer,
        scope: &Scope,
        auth_time: Timestamp,
        ctx: &RequestContext,
    ) -> Result<Redirect, AuthorizeError> {
        let now = self.clock.now();
        let mut params: Vec<(String, String)> = Vec::new();
        if req.response_type == ResponseType::Code {
            let code = random_token(32);
            self.store
                .insert_code(&AuthorizationCode {
                    code_hash: sha256(code.as_bytes()),
                    client_id: client.client_id.clone(),
                    user_id: user.user_id.clone(),
                    redirect_uri: req.redirect_uri.clone(),
                    redirect_uri_given: req.redirect_uri_given,
                    scope: scope.to_string(),
                    audience: api.identifier.clone(),
                    nonce: req.nonce.clone(),
                    code_challenge: req.code_challenge.clone(),
                    auth_time,
                    device: req.device.clone(),
                    created_at: now,
                    expires_at: now + self.settings.code_lifetime,
                    used_at: None,
                })
                .await?;
            params.push(("code".into(), code));
        } else {
            let tokens = UserTokens {
                nonce: req.nonce.as_deref(),
                ..UserTokens::new(client, user, api, scope, auth_time)
            };
            let (access_token, id_token, expires_in) = self
                .mint_user_tokens(&tokens, req.response_type.issues_access_token(), None)
                .await?;
            if let Some(token) = access_token {
                params.push(("access_token".into(), token));
                params.push(("token_type".into(), "Bearer".into()));
                params.push(("expires_in".into(), expires_in.to_string()));
                params.push(("scope".into(), scope.to_string()));
            }
            // Legacy clients got an ID token with `response_type=token` too (seed 000).
            if (req.response_type.issues_id_token() || !client.oidc_conformant)
                && let Some(token) = id_token
            {
                params.push(("id_token".into(), token));
            }
            if legacy_implicit_refresh(client, req) {
                // A legacy device authorization: naming the same `device` again replaces that
                // device's family; without one every authorization starts a new family.
                let refresh_token = self
                    .start_family(
                        NewFamily {
                            client,
                            user,
                            api,
                            scope,
                            auth_time,
                            device: req.device.as_deref(),
                            code_hash: None,
                            replace_device: true,
                        },
                        ctx,
                    )
                    .await?;
                if let Some(token) = refresh_token {
                    params.push(("refresh_token".into(), token));
                }
            }
        }
        if let Some(state) = &req.state {
            params.push(("state".into(), state.clone()));
        }
        metrics::counter!("tessera_authorizations_total", "response_type" => format!("{:?}", req.response_type)).increment(1);
        Ok(Redirect {
            redirect_uri: req.redirect_uri.clone(),
            mode: req.response_mode,
            params,
        })
    }

    /// Seals a transaction for the login or consent form.
    pub(super) fn seal(&self, txn: &Transaction) -> Result<String, AuthorizeError> {
        let json = serde_json::to_vec(txn).map_err(super::OAuthError::server_error)?;
        self.minter
            .keys()
            .secrets()
            .seal_transaction(&json)
            .map_err(|e| super::OAuthError::server_error(e).into())
    }

    /// Opens a sealed transaction; an altered or expired one is an error page.
    pub fn open_transaction(&self, sealed: &str) -> Result<Transaction, AuthorizeError> {
        let txn: Transaction = self
            .minter
            .keys()
            .secrets()
            .open_transaction(sealed)
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| {
                AuthorizeError::page(
                    AuthorizeErrorCode::InvalidRequest,
                    "This login link is invalid. Go back to the application and try again.",
                )
            })?;
        if txn.expires_at <= self.clock.now() {
            return Err(AuthorizeError::page(
                AuthorizeErrorCode::InvalidRequest,
                "This login attempt has expired. Go back to the application and try again.",
            ));
        }
        Ok(txn)
    }
}
