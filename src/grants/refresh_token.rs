//! Refresh-token families (DESIGN.md "Refresh tokens: the model"; RFC 6749 §6, RFC 9700 §4.14):
//! issuing a family from a login, and the exchange — rotation, the leeway retry, reuse detection
//! that revokes the family — in one store round trip on the success path. The rules a family
//! must meet are the store's (`store::sql_refresh`, one home each); this maps what the store
//! answers to the OAuth answer, the metrics and the audit log.

use std::net::IpAddr;

use super::error::{ErrorCode, OAuthError};
use super::issue::UserTokens;
use super::{Engine, TokenResponse};
use crate::domain::{
    AuditEvent, AuditType, Client, ExpirationType, Family, GrantType, RefreshOutcome, Refusal,
    ResourceServer, RotationType, Scope, User,
};
use crate::store::{ExchangeAnswer, ExchangeRequest};
use crate::tokens::refresh;
use crate::tokens::secrets::random_alphanumeric;

/// At most this many live families per user per client; the oldest is revoked beyond it.
pub const FAMILY_CAP: i64 = 200;

/// Where a token request came from.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub ip: IpAddr,
    pub user_agent: String,
}

pub fn invalid_refresh_token() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, "Unknown or invalid refresh token.")
}

/// A device name: the `device` parameter, else one derived from the user agent.
fn device_name(device: Option<&str>, user_agent: &str) -> String {
    let name = device
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(user_agent)
        .trim();
    let name: String = name.chars().take(100).collect();
    if name.is_empty() {
        "unknown device".into()
    } else {
        name
    }
}

/// What starts a family.
pub(super) struct NewFamily<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub api: &'a ResourceServer,
    pub scope: &'a Scope,
    pub auth_time: i64,
    pub device: Option<&'a str>,
    pub code_hash: Option<Vec<u8>>,
    /// A legacy authorization: naming a `device` replaces that device's earlier families.
    pub replace_device: bool,
}

impl Engine {
    /// Starts a family when `offline_access` was granted (only for APIs that allow offline
    /// access) to a client allowed the refresh_token grant; answers its first token.
    pub(super) async fn start_family(
        &self,
        new: NewFamily<'_>,
        ctx: &RequestContext,
    ) -> Result<Option<String>, OAuthError> {
        if !new.scope.contains("offline_access")
            || !new.api.allow_offline_access
            || !new.client.allows_grant(GrantType::RefreshToken)
        {
            return Ok(None);
        }
        let now = self.clock.now();
        let settings = &new.client.refresh_token;
        let expiring = settings.expiration_type == ExpirationType::Expiring;
        let rotating = settings.rotation_type == RotationType::Rotating;
        let seconds = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        let family = Family {
            id: random_alphanumeric(22),
            user_id: new.user.user_id.clone(),
            client_id: new.client.client_id.clone(),
            audience: new.api.identifier.clone(),
            scope: new.scope.to_string(),
            device: device_name(new.device, &ctx.user_agent),
            rotating,
            generation: 0,
            rotated_at: None,
            leeway: if rotating {
                seconds(settings.leeway)
            } else {
                0
            },
            created_at: now,
            expires_at: (expiring && !settings.infinite_token_lifetime)
                .then(|| now.saturating_add(seconds(settings.token_lifetime))),
            idle_lifetime: (expiring && !settings.infinite_idle_token_lifetime)
                .then(|| seconds(settings.idle_token_lifetime)),
            last_exchanged_at: now,
            auth_time: new.auth_time,
            auth_policy_version: new.client.auth_policy_version,
            code_hash: new.code_hash,
            initial_ip: ctx.ip.to_string(),
            initial_user_agent: ctx.user_agent.chars().take(512).collect(),
            last_ip: ctx.ip.to_string(),
            last_user_agent: ctx.user_agent.chars().take(512).collect(),
            last_outcome: RefreshOutcome::Issued,
            revoked_at: None,
            revoked_reason: None,
        };
        // A legacy authorization naming a device replaces that device's families, atomically.
        let replace =
            new.replace_device && new.device.map(str::trim).is_some_and(|d| !d.is_empty());
        let (replaced, capped) = self
            .store
            .create_family(&family, FAMILY_CAP, replace)
            .await?;
        self.audit(
            AuditType::FamilyIssued,
            "Refresh token family issued",
            Some(&family.client_id),
            Some(&family.user_id),
            ctx,
            serde_json::json!({ "family_id": family.id, "device": family.device, "rotating": rotating, "families_revoked_by_limit": capped, "families_replaced": replaced }),
        )
        .await;
        metrics::counter!("tessera_refresh_families_issued_total").increment(1);
        Ok(Some(refresh::encode(
            self.minter.keys().secrets(),
            &family.id,
            0,
        )))
    }

    /// The answer of a login grant (code, password): the access token, an ID token with
    /// `openid`, and a refresh-token family with `offline_access`.
    pub(super) async fn login_response(
        &self,
        tokens: UserTokens<'_>,
        family: NewFamily<'_>,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let (access_token, id_token, expires_in) =
            self.mint_user_tokens(&tokens, true, None).await?;
        let refresh_token = self.start_family(family, ctx).await?;
        Ok(TokenResponse {
            access_token: access_token.unwrap_or_default(),
            id_token,
            refresh_token,
            scope: (!tokens.scope.is_empty()).then(|| tokens.scope.to_string()),
            expires_in,
            token_type: "Bearer",
        })
    }

    /// Writes an audit event; a failure is logged, never fails the request.
    pub(super) async fn audit(
        &self,
        kind: AuditType,
        description: &str,
        client_id: Option<&str>,
        user_id: Option<&str>,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) {
        let now = self.clock.now();
        let event = AuditEvent {
            id: format!("{now:012}{}", random_alphanumeric(12)),
            kind,
            date: now,
            description: description.to_owned(),
            client_id: client_id.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            ip: Some(ctx.ip.to_string()),
            user_agent: Some(ctx.user_agent.chars().take(512).collect()),
            details: details.to_string(),
        };
        if let Err(e) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %e, kind = kind.code(), "cannot write an audit event");
        }
    }

    /// Revokes what a replayed authorization code issued.
    pub(super) async fn revoke_code_families(
        &self,
        code: &crate::domain::AuthorizationCode,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let revoked = self
            .store
            .revoke_families_by_code(&code.code_hash, self.clock.now(), "code_replay")
            .await?;
        self.audit(
            AuditType::CodeReplay,
            "Authorization code replayed: what it issued is revoked",
            Some(&code.client_id),
            Some(&code.user_id),
            ctx,
            serde_json::json!({ "families_revoked": revoked }),
        )
        .await;
        Ok(())
    }
}

/// What a check run inside a refresh exchange sees: the exchange as it would be committed.
pub struct ExchangeContext<'a> {
    pub client: &'a Client,
    /// The family as read (before the exchange), its user, and the scope the tokens will carry.
    pub family: &'a Family,
    pub user: &'a User,
    pub scope: &'a Scope,
    /// A retry within the leeway (the same next token again) rather than a rotation.
    pub leeway_retry: bool,
    pub request: &'a RequestContext,
}

/// A check run on every accepted refresh exchange before it is committed (rules and actions plug
/// in here). With any registered, the exchange takes its validate-then-commit form: the family,
/// user and API are read, every rule of the exchange is applied, then each check; an `Err`
/// refuses the exchange with that answer and changes nothing (the token stays usable); then the
/// exchange commits as the one-statement form does, the presented generation its
/// compare-and-set. A reuse or a refusal by the
/// exchange's own rules is answered without running them.
#[async_trait::async_trait]
pub trait ExchangeCheck: Send + Sync {
    async fn check(&self, exchange: &ExchangeContext<'_>) -> Result<(), OAuthError>;
}

/// The validate-then-commit form of the exchange (see [`ExchangeCheck`]).
async fn exchange_checked(
    engine: &Engine,
    client: &Client,
    request: &ExchangeRequest<'_>,
    requested: Option<&Scope>,
    ctx: &RequestContext,
) -> Result<ExchangeAnswer, OAuthError> {
    let Some(read) = engine.store.read_exchange(request).await? else {
        return Ok(ExchangeAnswer::Refused(Refusal::Unknown));
    };
    if let Some(refusal) = read.checks.refusal() {
        return Ok(ExchangeAnswer::Refused(refusal));
    }
    let Some(current) = read.exchanged else {
        // Every rule held, yet the family was gone by the second read.
        return Ok(ExchangeAnswer::Refused(Refusal::Unknown));
    };
    if read.checks.current || read.checks.leeway_retry {
        let scope = requested
            .cloned()
            .unwrap_or_else(|| Scope::parse(&current.family.scope));
        let exchange = ExchangeContext {
            client,
            family: &current.family,
            user: &current.user,
            scope: &scope,
            leeway_retry: !read.checks.current,
            request: ctx,
        };
        for check in engine.exchange_checks.iter() {
            check.check(&exchange).await?;
        }
    }
    // The commit: the presented generation is its compare-and-set (see `read_exchange`).
    Ok(engine.store.exchange_family(request).await?)
}

/// `grant_type=refresh_token`, for a client authenticated and allowed the grant.
pub(super) async fn exchange(
    engine: &Engine,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    ctx: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let secrets = engine.minter.keys().secrets();
    // A token whose MAC fails is unknown: it touches no family.
    let claims = refresh::decode(secrets, token).ok_or_else(invalid_refresh_token)?;
    if let Err(wait) = engine.limits.check_refresh(&claims.family, ctx.ip) {
        return Err(OAuthError::too_many_requests_with(
            wait,
            "Too many refresh requests for this token from this IP: wait before trying again.",
        ));
    }
    let requested = scope.map(Scope::parse);
    if let Some(requested) = &requested {
        // Off the hot path: a narrowed request must not consume the token when it is refused.
        let Some(family) = engine
            .store
            .get_family(&claims.family)
            .await?
            .filter(|f| f.client_id == client.client_id)
        else {
            return Err(invalid_refresh_token());
        };
        let granted = Scope::parse(&family.scope);
        let extra: Vec<&str> = requested.missing_from(&granted).collect();
        if !extra.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "Scope not granted to this refresh token: {}",
                extra.join(" ")
            )));
        }
    }
    let ip = ctx.ip.to_string();
    let request = ExchangeRequest {
        family_id: &claims.family,
        generation: claims.generation,
        now: engine.clock.now(),
        ip: &ip,
        user_agent: &ctx.user_agent,
        password_rule: engine.settings.revoke_on_password_change,
        client_id: &client.client_id,
        policy_version: client.auth_policy_version,
    };
    let answer = if engine.exchange_checks.is_empty() {
        engine.store.exchange_family(&request).await?
    } else {
        exchange_checked(engine, client, &request, requested.as_ref(), ctx).await?
    };
    let done = match answer {
        ExchangeAnswer::Done(done) => done,
        ExchangeAnswer::Refused(refusal) => {
            metrics::counter!("tessera_refresh_exchanges_total", "outcome" => refusal.as_str())
                .increment(1);
            return Err(invalid_refresh_token());
        }
    };
    let family = &done.family;
    metrics::counter!("tessera_refresh_exchanges_total", "outcome" => family.last_outcome.as_str())
        .increment(1);
    let next = match family.last_outcome {
        RefreshOutcome::Rotated | RefreshOutcome::Leeway => {
            Some(refresh::encode(secrets, &family.id, family.generation))
        }
        RefreshOutcome::Exchanged => None,
        // An exchange never leaves a family "issued".
        RefreshOutcome::Issued => {
            return Err(OAuthError::server_error(
                "the exchange left the family as issued",
            ));
        }
        RefreshOutcome::Reused => {
            tracing::warn!(family_id = %family.id, client_id = %family.client_id, "refresh token reuse: family revoked");
            metrics::counter!("tessera_refresh_reuse_total").increment(1);
            engine
                .audit(
                    AuditType::Reuse,
                    "Refresh token reuse detected: the family is revoked",
                    Some(&family.client_id),
                    Some(&family.user_id),
                    ctx,
                    serde_json::json!({ "family_id": family.id, "presented_generation": claims.generation, "current_generation": family.generation }),
                )
                .await;
            return Err(invalid_refresh_token());
        }
    };
    let scope = requested.unwrap_or_else(|| Scope::parse(&family.scope));
    let tokens = UserTokens {
        client_id: &family.client_id,
        user: &done.user,
        audience: &family.audience,
        signing_alg: done.signing_alg,
        token_lifetime: u64::try_from(done.token_lifetime).unwrap_or(0),
        scope: &scope,
        auth_time: family.auth_time,
        nonce: None,
        gty: None,
    };
    // A new ID token only when the family was granted `openid`.
    let (access_token, id_token, expires_in) = engine.mint_user_tokens(&tokens, true, None).await?;
    Ok(TokenResponse {
        access_token: access_token.unwrap_or_default(),
        id_token,
        refresh_token: next,
        scope: Some(scope.to_string()),
        expires_in,
        token_type: "Bearer",
    })
}
