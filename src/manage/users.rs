//! Users of the database connection: Auth0's `/api/v2/users` shapes. Passwords are stored as
//! argon2id hashes, never answered.

use super::Missing;
use serde::{Deserialize, Serialize};

use super::{Admin, AdminError, AdminResult, ListQuery, Listed};
use crate::clock::rfc3339;
use crate::domain::{DATABASE_CONNECTION, User};
use crate::store::StoreError;
use crate::tokens::secrets::random_hex;

/// Auth0's "fair" policy floor, and a cap that keeps hashing cheap to refuse.
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInput {
    pub user_id: Option<String>,
    pub connection: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub password: Option<String>,
    pub blocked: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub connection: String,
    pub provider: &'static str,
    pub user_id: String,
    #[serde(rename = "isSocial")]
    pub is_social: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub nickname: String,
    pub blocked: bool,
    pub identities: Vec<Identity>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_password_reset: Option<String>,
    pub logins_count: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            nickname: u.nickname.clone(),
            blocked: u.blocked,
            identities: vec![Identity {
                connection: u.connection.clone(),
                provider: "auth0",
                user_id: u
                    .user_id
                    .strip_prefix("auth0|")
                    .unwrap_or(&u.user_id)
                    .to_owned(),
                is_social: false,
            }],
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            last_login: u.last_login.map(rfc3339),
            last_password_reset: u.password_changed_at.map(rfc3339),
            logins_count: u.logins_count,
        }
    }
}

fn check_email(email: &str) -> AdminResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(AdminError::invalid(format!(
            "email: {email:?} is not a valid email address"
        )))
    }
}

fn check_password(password: &str) -> AdminResult<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AdminError::invalid(format!(
            "PasswordStrengthError: Password is too weak (at least {MIN_PASSWORD} characters)"
        )));
    }
    if n > MAX_PASSWORD {
        return Err(AdminError::invalid(
            "PasswordStrengthError: Password is too long",
        ));
    }
    Ok(())
}

fn check_connection(connection: Option<&str>) -> AdminResult<()> {
    match connection {
        Some(DATABASE_CONNECTION) => Ok(()),
        Some(other) => Err(AdminError::invalid(format!(
            "The connection {other:?} does not exist (the only one is {DATABASE_CONNECTION})"
        ))),
        None => Err(AdminError::invalid("Missing required property: connection")),
    }
}

fn user_exists() -> AdminError {
    AdminError::Conflict {
        error_code: "auth0_idp_error",
        message: "The user already exists.".into(),
    }
}

impl Admin {
    pub async fn create_user(&self, input: UserInput) -> AdminResult<UserView> {
        check_connection(input.connection.as_deref())?;
        let email = check_email(
            input
                .email
                .as_deref()
                .ok_or_else(|| AdminError::invalid("Missing required property: email"))?,
        )?;
        let password = input
            .password
            .ok_or_else(|| AdminError::invalid("Missing required property: password"))?;
        check_password(&password)?;
        let user_id = match input.user_id {
            Some(id) => {
                let id = id.strip_prefix("auth0|").unwrap_or(&id).to_owned();
                if id.is_empty() || id.len() > 255 || !id.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(AdminError::invalid("user_id must be printable ASCII"));
                }
                format!("auth0|{id}")
            }
            None => format!("auth0|{}", random_hex(24)),
        };
        let hash = self.passwords.hash(&password).await?;
        let now = self.clock.now();
        let nickname = input
            .nickname
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
        let user = User {
            user_id,
            connection: DATABASE_CONNECTION.to_owned(),
            name: input.name.unwrap_or_else(|| email.clone()),
            nickname,
            email,
            email_verified: input.email_verified.unwrap_or(false),
            password_hash: Some(hash),
            blocked: input.blocked.unwrap_or(false),
            logins_count: 0,
            last_login: None,
            password_changed_at: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_user(&user).await {
            Err(StoreError::Conflict) => Err(user_exists()),
            other => other.map_err(AdminError::from),
        }?;
        self.record(
            "Create a user",
            serde_json::json!({ "user_id": user.user_id }),
        )
        .await;
        Ok(UserView::from(&user))
    }

    pub(crate) async fn load_user(&self, user_id: &str) -> AdminResult<User> {
        self.store
            .get_user(user_id)
            .await?
            .ok_or_else(|| AdminError::not_found(Missing::User, "The user does not exist."))
    }

    pub async fn get_user(&self, user_id: &str) -> AdminResult<UserView> {
        Ok(UserView::from(&self.load_user(user_id).await?))
    }

    pub async fn list_users(&self, query: ListQuery) -> AdminResult<Listed<UserView>> {
        let listed = Self::list(
            query,
            |page| self.store.list_users(page),
            self.store.count_users(),
        )
        .await?;
        Ok(Listed {
            items: listed.items.iter().map(UserView::from).collect(),
            start: listed.start,
            limit: listed.limit,
            total: listed.total,
        })
    }

    /// Changes only the fields the patch names; a new password is hashed and dated.
    pub async fn update_user(&self, user_id: &str, patch: UserInput) -> AdminResult<UserView> {
        let mut user = self.load_user(user_id).await?;
        if let Some(connection) = patch.connection.as_deref() {
            check_connection(Some(connection))?;
        }
        if patch.user_id.is_some_and(|id| id != user.user_id) {
            return Err(AdminError::invalid("user_id cannot be changed"));
        }
        let now = self.clock.now();
        if let Some(email) = patch.email {
            user.email = check_email(&email)?;
        }
        if let Some(v) = patch.email_verified {
            user.email_verified = v;
        }
        if let Some(v) = patch.name {
            user.name = v;
        }
        if let Some(v) = patch.nickname {
            user.nickname = v;
        }
        if let Some(v) = patch.blocked {
            user.blocked = v;
        }
        let password_changed = patch.password.is_some();
        if let Some(password) = patch.password {
            check_password(&password)?;
            user.password_hash = Some(self.passwords.hash(&password).await?);
            user.password_changed_at = Some(now);
        }
        user.updated_at = now;
        match self.store.update_user(&user).await {
            Err(StoreError::Conflict) => return Err(user_exists()),
            Ok(false) => {
                return Err(AdminError::not_found(
                    Missing::User,
                    "The user does not exist.",
                ));
            }
            other => other.map_err(AdminError::from)?,
        };
        if password_changed && self.revoke_on_password_change {
            self.store
                .revoke_user_families(&user.user_id, now, "password_changed")
                .await?;
        }
        self.record(
            if password_changed {
                "Update a user (password changed)"
            } else {
                "Update a user"
            },
            serde_json::json!({ "user_id": user.user_id }),
        )
        .await;
        Ok(UserView::from(&user))
    }

    pub async fn delete_user(&self, user_id: &str) -> AdminResult<()> {
        if self.store.delete_user(user_id).await? {
            self.record("Delete a user", serde_json::json!({ "user_id": user_id }))
                .await;
            Ok(())
        } else {
            Err(AdminError::not_found(
                Missing::User,
                "The user does not exist.",
            ))
        }
    }
}
