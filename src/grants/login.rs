//! Logging in: credentials (argon2id, throttled per user and IP), SSO sessions (3 days idle,
//! 7 days absolute), consent, and logout (only to a registered `allowed_logout_urls` entry).

use std::net::IpAddr;

use super::Engine;
use super::authorize::{AuthorizeError, AuthorizeErrorCode, AuthorizeOutcome, Transaction};
use super::issue::granted_scope;
use super::refresh_token::RequestContext;
use crate::domain::{AuditType, DATABASE_CONNECTION, Grant, Scope, Session, User};
use crate::store::StoreError;
use crate::tokens::secrets::{random_alphanumeric, random_token, sha256};

/// Why a username and password were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// Wrong username or password (one answer for both).
    Invalid,
    /// Too many failures for this user from this IP: retry after this many seconds.
    Throttled(u64),
    Blocked,
    Store(String),
}

impl From<StoreError> for CredentialError {
    fn from(e: StoreError) -> Self {
        // No user's email or password holds a NUL: the same answer as any wrong one.
        if let StoreError::InvalidText(_) = e {
            return Self::Invalid;
        }
        tracing::error!(error = %e, "credential check failed");
        Self::Store(e.to_string())
    }
}

/// Where the login form went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Show the form again with this message.
    Form(String),
    Throttled(u64),
    /// The transaction is unusable or the request failed.
    Authorize(AuthorizeError),
}

impl From<AuthorizeError> for LoginError {
    fn from(e: AuthorizeError) -> Self {
        Self::Authorize(e)
    }
}

/// A successful login: the new session's cookie value and what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub session_cookie: String,
    pub outcome: AuthorizeOutcome,
}

/// What the consent page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    pub client_name: String,
    pub audience_name: String,
    pub scopes: Vec<String>,
}

impl Engine {
    /// The user of a live SSO session (not expired, not idle too long, user not blocked); records
    /// the activity.
    pub async fn session_user(&self, cookie: &str) -> Result<Option<(Session, User)>, StoreError> {
        let hash = sha256(cookie.as_bytes());
        let Some(session) = self.store.get_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= session.expires_at || now >= session.last_seen_at + self.settings.session_idle {
            return Ok(None);
        }
        let Some(user) = self.store.get_user(&session.user_id).await? else {
            return Ok(None);
        };
        if user.blocked {
            return Ok(None);
        }
        self.store.touch_session(&hash, now).await?;
        Ok(Some((session, user)))
    }

    /// Checks a username (email) and password, with throttling per user + IP and the same cost
    /// for unknown users. Used by the login page and the password grant.
    pub async fn verify_credentials(
        &self,
        username: &str,
        password: &str,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<User, CredentialError> {
        let now = self.clock.now();
        let details = |reason: &str| serde_json::json!({ "username": username, "reason": reason });
        if let Err(wait) = self.throttle.check(username, ctx.ip, now) {
            self.audit(
                AuditType::Throttled,
                "Too many failed logins for this user from this IP",
                Some(client_id),
                None,
                ctx,
                details("throttled"),
            )
            .await;
            return Err(CredentialError::Throttled(wait));
        }
        let user = self
            .store
            .get_user_by_email(DATABASE_CONNECTION, &username.trim().to_lowercase())
            .await?;
        let ok = self
            .passwords
            .verify(
                password,
                user.as_ref().and_then(|u| u.password_hash.as_deref()),
            )
            .await;
        match user {
            Some(user) if ok => {
                if user.blocked {
                    self.audit(
                        AuditType::LoginFailed,
                        "user is blocked",
                        Some(client_id),
                        Some(&user.user_id),
                        ctx,
                        details("blocked"),
                    )
                    .await;
                    return Err(CredentialError::Blocked);
                }
                self.throttle.succeeded(username, ctx.ip);
                self.store.record_login(&user.user_id, now).await?;
                self.audit(
                    AuditType::Login,
                    "Successful login",
                    Some(client_id),
                    Some(&user.user_id),
                    ctx,
                    serde_json::json!({}),
                )
                .await;
                Ok(user)
            }
            Some(user) => {
                self.throttle.failed(username, ctx.ip, now);
                self.audit(
                    AuditType::WrongPassword,
                    "Wrong email or password",
                    Some(client_id),
                    Some(&user.user_id),
                    ctx,
                    details("wrong_password"),
                )
                .await;
                Err(CredentialError::Invalid)
            }
            None => {
                self.throttle.failed(username, ctx.ip, now);
                self.audit(
                    AuditType::UnknownUser,
                    "Wrong email or password (no such user)",
                    Some(client_id),
                    None,
                    ctx,
                    details("unknown_user"),
                )
                .await;
                Err(CredentialError::Invalid)
            }
        }
    }

    async fn load_txn_client(
        &self,
        sealed: &str,
    ) -> Result<(Transaction, crate::domain::Client), AuthorizeError> {
        let txn = self.open_transaction(sealed)?;
        let client = self
            .store
            .get_client(&txn.req.client_id)
            .await?
            .ok_or_else(|| {
                AuthorizeError::page(AuthorizeErrorCode::InvalidRequest, "Unknown client.")
            })?;
        Ok((txn, client))
    }

    /// The client's name, for the login page.
    pub async fn login_page(&self, sealed: &str) -> Result<String, AuthorizeError> {
        Ok(self.load_txn_client(sealed).await?.1.name)
    }

    /// The login form: check credentials, start an SSO session, continue the authorization.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        sealed: &str,
        username: &str,
        password: &str,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<LoggedIn, LoginError> {
        let (mut txn, client) = self.load_txn_client(sealed).await?;
        if username.trim().is_empty() || password.is_empty() {
            return Err(LoginError::Form("Enter your email and password.".into()));
        }
        let ctx = RequestContext {
            ip,
            user_agent: user_agent.to_owned(),
        };
        let user = match self
            .verify_credentials(username, password, &client.client_id, &ctx)
            .await
        {
            Ok(user) => user,
            Err(CredentialError::Invalid) => {
                return Err(LoginError::Form("Wrong email or password.".into()));
            }
            Err(CredentialError::Blocked) => {
                return Err(LoginError::Form(
                    "This account is blocked. Contact the administrator.".into(),
                ));
            }
            Err(CredentialError::Throttled(wait)) => return Err(LoginError::Throttled(wait)),
            Err(CredentialError::Store(_)) => {
                return Err(LoginError::Authorize(
                    StoreError::Corrupt(String::new()).into(),
                ));
            }
        };
        let now = self.clock.now();
        let cookie = random_token(32);
        self.store
            .insert_session(&Session {
                id_hash: sha256(cookie.as_bytes()),
                user_id: user.user_id.clone(),
                auth_time: now,
                created_at: now,
                last_seen_at: now,
                expires_at: now + self.settings.session_absolute,
                ip: ip.to_string(),
                user_agent: user_agent.chars().take(512).collect(),
            })
            .await
            .map_err(AuthorizeError::from)?;
        txn.logged_in = true;
        let outcome = self.proceed(txn, &client, Some((user, now)), &ctx).await?;
        Ok(LoggedIn {
            session_cookie: cookie,
            outcome,
        })
    }

    /// What the consent page shows for a transaction.
    pub async fn consent_page(&self, sealed: &str) -> Result<ConsentView, AuthorizeError> {
        let (txn, client) = self.load_txn_client(sealed).await?;
        let api = self
            .audience_api(txn.req.audience.as_deref())
            .await?
            .ok_or_else(|| {
                AuthorizeError::page(AuthorizeErrorCode::InvalidRequest, "Service not found.")
            })?;
        Ok(ConsentView {
            client_name: client.name,
            audience_name: api.name.clone(),
            scopes: granted_scope(&Scope::parse(&txn.req.scope), &api).into_vec(),
        })
    }

    /// The consent form: remember the grant and answer, or answer `access_denied`.
    #[tracing::instrument(skip_all)]
    pub async fn consent(
        &self,
        sealed: &str,
        session_cookie: Option<&str>,
        accept: bool,
        ctx: &RequestContext,
    ) -> Result<AuthorizeOutcome, AuthorizeError> {
        let (mut txn, client) = self.load_txn_client(sealed).await?;
        let session = match session_cookie {
            Some(cookie) => self.session_user(cookie).await?,
            None => None,
        };
        let Some((session, user)) = session else {
            // The session ended meanwhile: log in again.
            return Ok(AuthorizeOutcome::Login(self.seal(&txn)?));
        };
        if !accept {
            let mut params = vec![
                (
                    "error".to_owned(),
                    AuthorizeErrorCode::AccessDenied.as_str(),
                ),
                (
                    "error_description".to_owned(),
                    "The user did not authorize the request.".to_owned(),
                ),
            ];
            if let Some(state) = &txn.req.state {
                params.push(("state".into(), state.clone()));
            }
            return Err(AuthorizeError::Redirect(super::authorize::Redirect {
                redirect_uri: txn.req.redirect_uri.clone(),
                mode: txn.req.response_mode,
                params,
            }));
        }
        let api = self
            .audience_api(txn.req.audience.as_deref())
            .await?
            .ok_or_else(|| {
                AuthorizeError::page(AuthorizeErrorCode::InvalidRequest, "Service not found.")
            })?;
        let scope = granted_scope(&Scope::parse(&txn.req.scope), &api);
        let now = self.clock.now();
        let existing = self
            .store
            .get_grant(&user.user_id, &client.client_id, &api.identifier)
            .await?;
        let mut scopes: Vec<String> = existing
            .as_ref()
            .map(|g| g.scope.clone())
            .unwrap_or_default();
        for s in scope.iter() {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
        self.store
            .upsert_grant(&Grant {
                id: existing.map_or_else(|| format!("cgr_{}", random_alphanumeric(16)), |g| g.id),
                user_id: user.user_id.clone(),
                client_id: client.client_id.clone(),
                audience: api.identifier.clone(),
                scope: scopes,
                created_at: now,
                updated_at: now,
            })
            .await?;
        txn.consented = true;
        // `logged_in` stays as sealed: a transaction that still needs its login (`prompt=login`)
        // goes to the login page, whichever form it was posted to.
        self.proceed(txn, &client, Some((user, session.auth_time)), ctx)
            .await
    }

    /// Ends the SSO session; answers where to send the browser: `return_to` only when it is one
    /// of the client's `allowed_logout_urls` (exact match).
    pub async fn logout(
        &self,
        session_cookie: Option<&str>,
        client_id: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        if let Some(cookie) = session_cookie {
            self.store
                .delete_session(&sha256(cookie.as_bytes()))
                .await?;
        }
        let (Some(client_id), Some(return_to)) = (client_id, return_to) else {
            return Ok(None);
        };
        let Some(client) = self.store.get_client(client_id).await? else {
            return Ok(None);
        };
        Ok(client
            .allowed_logout_urls
            .iter()
            .any(|u| u == return_to)
            .then(|| return_to.to_owned()))
    }

    /// The client an ID token was issued to (for `id_token_hint`): signature and issuer are
    /// checked, expiry is not (OIDC RP-Initiated Logout §2).
    pub fn id_token_hint_client(&self, id_token: &str) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Hint {
            aud: crate::tokens::Audience,
            azp: Option<String>,
        }
        let hint: Hint = self.minter.verify_ignoring_expiry(id_token).ok()?;
        match (hint.azp, hint.aud) {
            (Some(azp), _) => Some(azp),
            (None, crate::tokens::Audience::One(aud)) => Some(aud),
            (None, crate::tokens::Audience::Many(list)) => list.into_iter().next(),
        }
    }
}
