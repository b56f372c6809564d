//! Users of the one database connection, with argon2id password hashes.

use crate::clock::Timestamp;

/// Auth0's name for the username/password database connection; the only one Tessera has.
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `auth0|…`, as Auth0's database users.
    pub user_id: String,
    pub connection: String,
    /// Lower-cased; unique per connection.
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub nickname: String,
    /// PHC string (argon2id); `None` for a user who cannot log in with a password.
    pub password_hash: Option<String>,
    pub blocked: bool,
    pub logins_count: i64,
    pub last_login: Option<Timestamp>,
    pub password_changed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
