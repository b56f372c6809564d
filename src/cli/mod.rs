//! The command line: `tessera serve` (the default), `migrate`, and admin commands that print JSON.
//! Admin commands go through the same service as the Management API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod run;

pub use run::run_admin;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server, wire-compatible with Auth0"
)]
pub struct Cli {
    /// A TOML settings file layered over the built-in defaults (environment variables win).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Applications (OAuth clients).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// APIs (resource servers).
    #[command(subcommand)]
    Apis(ApisCommand),
    /// Client grants: which client may get client_credentials tokens for which API.
    #[command(subcommand, name = "client-grants")]
    ClientGrants(ClientGrantsCommand),
    /// Users of the Username-Password-Authentication connection.
    #[command(subcommand)]
    Users(UsersCommand),
    /// SSO sessions of users.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// A user's devices (refresh-token families, Auth0's device credentials).
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Consent grants (user + client + audience).
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Refresh tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The audit log.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// An identifier argument (of a client, user, API, grant, device or token): empty, or holding
/// spaces or control characters, it is a usage error (exit code 2), never a lookup.
fn identifier(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if value.len() > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    Ok(value.to_owned())
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List a user's live devices.
    List {
        #[arg(long, value_parser = identifier)]
        user_id: String,
        #[arg(long, value_parser = identifier)]
        client_id: Option<String>,
    },
    /// Revoke one device (its refresh-token family), by its `dcr_…` id.
    Revoke {
        #[arg(long, value_parser = identifier)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List a user's consent grants.
    List {
        #[arg(long, value_parser = identifier)]
        user_id: String,
    },
    /// Withdraw consent (and revoke the grant's refresh tokens): one grant, or all of a user's.
    Revoke {
        #[arg(
            long,
            required_unless_present = "user_id",
            conflicts_with = "user_id",
            value_parser = identifier
        )]
        id: Option<String>,
        #[arg(long, value_parser = identifier)]
        user_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke one refresh token (its family) by id, or every refresh token of a user.
    Revoke {
        #[arg(
            long,
            required_unless_present = "user_id",
            conflicts_with = "user_id",
            value_parser = identifier
        )]
        id: Option<String>,
        #[arg(long, value_parser = identifier)]
        user_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Print the newest audit events (oldest first), then, with --follow, new ones as they come.
    Tail {
        #[arg(long, default_value_t = 20)]
        lines: u32,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long, value_parser = identifier)]
        user_id: Option<String>,
        #[arg(long, value_parser = identifier)]
        client_id: Option<String>,
        /// Keep polling for new events (every 2 s) until interrupted.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's SSO sessions.
    List {
        #[arg(long, value_parser = identifier)]
        user_id: String,
    },
    /// End every SSO session of a user (they must log in again; tokens already issued stay valid
    /// until they expire or are revoked).
    End {
        #[arg(long, value_parser = identifier)]
        user_id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AppTypeArg {
    Native,
    Spa,
    #[value(alias = "regular_web")]
    RegularWeb,
    #[value(alias = "non_interactive")]
    NonInteractive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethodArg {
    None,
    #[value(alias = "client_secret_post")]
    ClientSecretPost,
    #[value(alias = "client_secret_basic")]
    ClientSecretBasic,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints it with its secret (shown this once).
    Create(ClientCreateArgs),
    /// List clients.
    List,
    /// Change a client: only the fields given (every field of PATCH /api/v2/clients/{id}).
    Update(Box<ClientUpdateArgs>),
    /// Report clients whose refresh-token policy contradicts itself (stored before the rules
    /// were enforced); exits 1 when there are any.
    Check,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RotationTypeArg {
    Rotating,
    NonRotating,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExpirationTypeArg {
    Expiring,
    NonExpiring,
}

/// A client's refresh-token policy (Auth0's `refresh_token` object): only the fields given
/// change; the rules of README "Refresh-token policies" apply.
#[derive(Debug, Default, Args)]
pub struct RefreshTokenArgs {
    #[arg(long, value_enum)]
    pub rotation_type: Option<RotationTypeArg>,
    #[arg(long, value_enum)]
    pub expiration_type: Option<ExpirationTypeArg>,
    /// Seconds during which the previous refresh token may be presented again.
    #[arg(long)]
    pub leeway: Option<u64>,
    /// Absolute lifetime in seconds.
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    #[arg(long, value_name = "BOOL")]
    pub infinite_token_lifetime: Option<bool>,
    /// Idle lifetime in seconds (since the last exchange).
    #[arg(long)]
    pub idle_token_lifetime: Option<u64>,
    #[arg(long, value_name = "BOOL")]
    pub infinite_idle_token_lifetime: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    #[arg(long, value_parser = identifier)]
    pub client_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long, value_enum)]
    pub app_type: Option<AppTypeArg>,
    /// Replaces the allowed callback URLs (repeatable).
    #[arg(long = "callback", conflicts_with = "clear_callbacks")]
    pub callbacks: Vec<String>,
    /// Removes every callback URL.
    #[arg(long)]
    pub clear_callbacks: bool,
    /// Replaces the allowed logout URLs (repeatable).
    #[arg(long = "logout-url", conflicts_with = "clear_logout_urls")]
    pub allowed_logout_urls: Vec<String>,
    #[arg(long)]
    pub clear_logout_urls: bool,
    /// Replaces the allowed web origins (repeatable).
    #[arg(long = "web-origin", conflicts_with = "clear_web_origins")]
    pub web_origins: Vec<String>,
    #[arg(long)]
    pub clear_web_origins: bool,
    /// Replaces the grant types (repeatable).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    #[arg(long, value_enum)]
    pub token_endpoint_auth_method: Option<AuthMethodArg>,
    #[arg(long, value_name = "BOOL")]
    pub oidc_conformant: Option<bool>,
    /// false: a third-party client (it asks users for consent).
    #[arg(long, value_name = "BOOL")]
    pub first_party: Option<bool>,
    /// Raising it revokes the client's families created under a lower version.
    #[arg(long)]
    pub auth_policy_version: Option<i64>,
    #[command(flatten)]
    pub refresh_token: RefreshTokenArgs,
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub app_type: Option<AppTypeArg>,
    /// An allowed callback URL (repeatable).
    #[arg(long = "callback")]
    pub callbacks: Vec<String>,
    /// An allowed logout URL (repeatable).
    #[arg(long = "logout-url")]
    pub allowed_logout_urls: Vec<String>,
    /// A grant type (repeatable); default: Auth0's for the app type.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    #[arg(long, value_enum)]
    pub token_endpoint_auth_method: Option<AuthMethodArg>,
    /// Mark the client third-party (it will ask users for consent).
    #[arg(long)]
    pub third_party: bool,
    /// A legacy client (`oidc_conformant: false`).
    #[arg(long)]
    pub legacy: bool,
    #[command(flatten)]
    pub refresh_token: RefreshTokenArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Create an API.
    Create(ApiCreateArgs),
    /// List APIs.
    List,
    /// Change an API: only the fields given.
    Update(ApiUpdateArgs),
}

#[derive(Debug, Args)]
pub struct ApiUpdateArgs {
    /// The API's id or its identifier (audience).
    #[arg(long, value_parser = identifier)]
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Replaces the scopes (repeatable).
    #[arg(long = "scope", conflicts_with = "clear_scopes")]
    pub scopes: Vec<String>,
    /// Removes every scope.
    #[arg(long)]
    pub clear_scopes: bool,
    /// RS256, PS256 or ES256.
    #[arg(long)]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    #[arg(long, value_name = "BOOL")]
    pub allow_offline_access: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ApiCreateArgs {
    /// The audience, e.g. https://api.example.com/
    #[arg(long)]
    pub identifier: String,
    #[arg(long)]
    pub name: Option<String>,
    /// A scope the API defines (repeatable), e.g. --scope read:orders
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Access-token signing algorithm: RS256 (default), PS256 or ES256.
    #[arg(long)]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds (default 86400).
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    #[arg(long)]
    pub allow_offline_access: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientGrantsCommand {
    /// Grant a client access to an API with some of its scopes.
    Create {
        #[arg(long, value_parser = identifier)]
        client_id: String,
        #[arg(long, value_parser = identifier)]
        audience: String,
        /// A granted scope (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Replace a client grant's scopes.
    Update {
        #[arg(long, value_parser = identifier)]
        id: String,
        /// A granted scope (repeatable): the new list.
        #[arg(long = "scope", required_unless_present = "clear_scopes")]
        scopes: Vec<String>,
        /// Grant no scope at all.
        #[arg(long, conflicts_with = "scopes")]
        clear_scopes: bool,
    },
    /// Delete a client grant.
    Delete {
        #[arg(long, value_parser = identifier)]
        id: String,
    },
    /// List client grants.
    List {
        #[arg(long, value_parser = identifier)]
        client_id: Option<String>,
        #[arg(long, value_parser = identifier)]
        audience: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin, which keeps it out of shell history.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email_verified: bool,
    },
    /// List users.
    List,
    /// Change a user: only the fields given.
    Update {
        #[arg(long, value_parser = identifier)]
        user_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_name = "BOOL")]
        email_verified: Option<bool>,
        /// true: no login and no refresh until unblocked.
        #[arg(long, value_name = "BOOL")]
        blocked: Option<bool>,
        /// A new password, read from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Block a user: no login and no refresh until unblocked.
    Block {
        #[arg(long, value_parser = identifier)]
        user_id: String,
    },
    /// Unblock a user.
    Unblock {
        #[arg(long, value_parser = identifier)]
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start a two-phase rotation: the new key is published now and signs after the activation
    /// delay (at once when no key of its algorithm signs yet); the old key stays published until
    /// its tokens have expired.
    Rotate {
        /// RS256, PS256 or ES256; default: all three.
        #[arg(long)]
        alg: Option<String>,
        /// Seconds before the new key signs (default: key_activation_delay).
        #[arg(long)]
        activate_in: Option<u64>,
    },
    /// List signing keys and their state.
    List,
}
