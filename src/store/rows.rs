//! Row shapes shared by both backends, and their conversion to and from the domain types.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SigningKeyRecord, StoreError, StoreResult};
use crate::domain::{Client, ClientGrant, ResourceServer, SigningAlg, User};

pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising plain data (strings, numbers, derived structs) cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn from_str_enum<T: DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    from_json(column, &to_json(&text))
}

pub(super) fn enum_str<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: Option<String>,
    pub callbacks: String,
    pub allowed_logout_urls: String,
    pub web_origins: String,
    pub grant_types: String,
    pub token_endpoint_auth_method: String,
    pub oidc_conformant: bool,
    pub is_first_party: bool,
    pub refresh_token: String,
    pub auth_policy_version: i64,
    pub secret_hash: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Self> {
        Ok(Client {
            app_type: r
                .app_type
                .as_deref()
                .map(|t| from_str_enum("app_type", t))
                .transpose()?,
            callbacks: from_json("callbacks", &r.callbacks)?,
            allowed_logout_urls: from_json("allowed_logout_urls", &r.allowed_logout_urls)?,
            web_origins: from_json("web_origins", &r.web_origins)?,
            grant_types: from_json("grant_types", &r.grant_types)?,
            token_endpoint_auth_method: from_str_enum(
                "token_endpoint_auth_method",
                &r.token_endpoint_auth_method,
            )?,
            refresh_token: from_json("refresh_token", &r.refresh_token)?,
            client_id: r.client_id,
            name: r.name,
            description: r.description,
            oidc_conformant: r.oidc_conformant,
            is_first_party: r.is_first_party,
            auth_policy_version: r.auth_policy_version,
            secret_hash: r.secret_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ResourceServerRow {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub allow_offline_access: bool,
    pub token_lifetime: i64,
    pub signing_alg: String,
    pub scopes: String,
    pub skip_consent: bool,
    pub system: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<ResourceServerRow> for ResourceServer {
    type Error = StoreError;
    fn try_from(r: ResourceServerRow) -> StoreResult<Self> {
        Ok(ResourceServer {
            signing_alg: SigningAlg::parse(&r.signing_alg)
                .ok_or_else(|| StoreError::Corrupt(format!("signing_alg: {}", r.signing_alg)))?,
            scopes: from_json("scopes", &r.scopes)?,
            token_lifetime: u64::try_from(r.token_lifetime).unwrap_or(0),
            id: r.id,
            identifier: r.identifier,
            name: r.name,
            allow_offline_access: r.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: r.skip_consent,
            system: r.system,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClientGrantRow {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<ClientGrantRow> for ClientGrant {
    type Error = StoreError;
    fn try_from(r: ClientGrantRow) -> StoreResult<Self> {
        Ok(ClientGrant {
            scope: from_json("scope", &r.scope)?,
            id: r.id,
            client_id: r.client_id,
            audience: r.audience,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub user_id: String,
    pub connection: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub nickname: String,
    pub password_hash: Option<String>,
    pub blocked: bool,
    pub logins_count: i64,
    pub last_login: Option<i64>,
    pub password_changed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            user_id: r.user_id,
            connection: r.connection,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            nickname: r.nickname,
            password_hash: r.password_hash,
            blocked: r.blocked,
            logins_count: r.logins_count,
            last_login: r.last_login,
            password_changed_at: r.password_changed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
    pub published_until: Option<i64>,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> Self {
        SigningKeyRecord {
            kid: r.kid,
            alg: r.alg,
            public_jwk: r.public_jwk,
            private_key: r.private_key,
            created_at: r.created_at,
            activates_at: r.activates_at,
            published_until: r.published_until,
        }
    }
}

pub(super) fn convert_all<R, T>(rows: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    pub id_hash: Vec<u8>,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
}

impl From<SessionRow> for crate::domain::Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id_hash: r.id_hash,
            user_id: r.user_id,
            auth_time: r.auth_time,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CodeRow {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub scope: String,
    pub audience: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub device: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl From<CodeRow> for crate::domain::AuthorizationCode {
    fn from(r: CodeRow) -> Self {
        Self {
            code_hash: r.code_hash,
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            redirect_uri_given: r.redirect_uri_given,
            scope: r.scope,
            audience: r.audience,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            auth_time: r.auth_time,
            device: r.device,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<GrantRow> for crate::domain::Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> StoreResult<Self> {
        Ok(Self {
            scope: from_json("scope", &r.scope)?,
            id: r.id,
            user_id: r.user_id,
            client_id: r.client_id,
            audience: r.audience,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct FamilyRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: String,
    pub device: String,
    pub rotating: bool,
    pub generation: i64,
    pub rotated_at: Option<i64>,
    pub leeway: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub idle_lifetime: Option<i64>,
    pub last_exchanged_at: i64,
    pub auth_time: i64,
    pub auth_policy_version: i64,
    pub code_hash: Option<Vec<u8>>,
    pub initial_ip: String,
    pub initial_user_agent: String,
    pub last_ip: String,
    pub last_user_agent: String,
    pub last_outcome: String,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

impl TryFrom<FamilyRow> for crate::domain::Family {
    type Error = StoreError;

    fn try_from(r: FamilyRow) -> Result<Self, StoreError> {
        let last_outcome = crate::domain::RefreshOutcome::parse(&r.last_outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("last_outcome: {}", r.last_outcome)))?;
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            client_id: r.client_id,
            audience: r.audience,
            scope: r.scope,
            device: r.device,
            rotating: r.rotating,
            generation: r.generation,
            rotated_at: r.rotated_at,
            leeway: r.leeway,
            created_at: r.created_at,
            expires_at: r.expires_at,
            idle_lifetime: r.idle_lifetime,
            last_exchanged_at: r.last_exchanged_at,
            auth_time: r.auth_time,
            auth_policy_version: r.auth_policy_version,
            code_hash: r.code_hash,
            initial_ip: r.initial_ip,
            initial_user_agent: r.initial_user_agent,
            last_ip: r.last_ip,
            last_user_agent: r.last_user_agent,
            last_outcome,
            revoked_at: r.revoked_at,
            revoked_reason: r.revoked_reason,
        })
    }
}

/// A family joined with its user (PostgreSQL answers both from the exchange's one statement);
/// the user's columns carry a `u_` prefix.
#[derive(sqlx::FromRow)]
pub(super) struct FamilyUserRow {
    #[sqlx(flatten)]
    pub family: FamilyRow,
    pub u_connection: String,
    pub u_email: String,
    pub u_email_verified: bool,
    pub u_name: String,
    pub u_nickname: String,
    pub u_blocked: bool,
    pub u_logins_count: i64,
    pub u_last_login: Option<i64>,
    pub u_password_changed_at: Option<i64>,
    pub u_created_at: i64,
    pub u_updated_at: i64,
    pub r_signing_alg: String,
    pub r_token_lifetime: i64,
}

impl FamilyUserRow {
    pub fn split(self) -> Result<super::Exchanged, StoreError> {
        let user = User {
            user_id: self.family.user_id.clone(),
            connection: self.u_connection,
            email: self.u_email,
            email_verified: self.u_email_verified,
            name: self.u_name,
            nickname: self.u_nickname,
            password_hash: None,
            blocked: self.u_blocked,
            logins_count: self.u_logins_count,
            last_login: self.u_last_login,
            password_changed_at: self.u_password_changed_at,
            created_at: self.u_created_at,
            updated_at: self.u_updated_at,
        };
        Ok(super::Exchanged {
            family: self.family.try_into()?,
            user,
            signing_alg: SigningAlg::parse(&self.r_signing_alg).ok_or_else(|| {
                StoreError::Corrupt(format!("signing_alg: {}", self.r_signing_alg))
            })?,
            token_lifetime: self.r_token_lifetime,
        })
    }
}

/// The answers of [`FAMILY_CHECKS`](super::sql_refresh::FAMILY_CHECKS); `None` (a rule over a
/// missing user) counts as broken.
#[derive(sqlx::FromRow)]
pub(super) struct FamilyChecksRow {
    pub known: Option<bool>,
    pub not_revoked: Option<bool>,
    pub within_lifetime: Option<bool>,
    pub within_idle_lifetime: Option<bool>,
    pub user_active: Option<bool>,
    pub password_unchanged: Option<bool>,
    pub policy_current: Option<bool>,
    pub current: Option<bool>,
    pub leeway_retry: Option<bool>,
}

impl From<FamilyChecksRow> for crate::domain::FamilyChecks {
    fn from(r: FamilyChecksRow) -> Self {
        let holds = |v: Option<bool>| v.unwrap_or(false);
        Self {
            known: holds(r.known),
            not_revoked: holds(r.not_revoked),
            within_lifetime: holds(r.within_lifetime),
            within_idle_lifetime: holds(r.within_idle_lifetime),
            user_active: holds(r.user_active),
            password_unchanged: holds(r.password_unchanged),
            policy_current: holds(r.policy_current),
            current: holds(r.current),
            leeway_retry: holds(r.leeway_retry),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub date: i64,
    pub description: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

impl TryFrom<AuditRow> for crate::domain::AuditEvent {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: crate::domain::AuditType::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("audit type: {}", r.kind)))?,
            id: r.id,
            date: r.date,
            description: r.description,
            client_id: r.client_id,
            user_id: r.user_id,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r.details,
        })
    }
}
