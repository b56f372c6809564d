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

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List a user's live devices.
    List {
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Revoke one device (its refresh-token family), by its `dcr_…` id.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List a user's consent grants.
    List {
        #[arg(long)]
        user_id: String,
    },
    /// Withdraw consent (and revoke the grant's refresh tokens): one grant, or all of a user's.
    Revoke {
        #[arg(long, required_unless_present = "user_id", conflicts_with = "user_id")]
        id: Option<String>,
        #[arg(long)]
        user_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke one refresh token (its family) by id, or every refresh token of a user.
    Revoke {
        #[arg(long, required_unless_present = "user_id", conflicts_with = "user_id")]
        id: Option<String>,
        #[arg(long)]
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
        #[arg(long)]
        user_id: Option<String>,
        #[arg(long)]
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
        #[arg(long)]
        user_id: String,
    },
    /// End every SSO session of a user (they must log in again; tokens already issued stay valid
    /// until they expire or are revoked).
    End {
        #[arg(long)]
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
    /// Report clients whose refresh-token policy contradicts itself (stored before the rules
    /// were enforced); exits 1 when there are any.
    Check,
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
}

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Create an API.
    Create(ApiCreateArgs),
    /// List APIs.
    List,
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
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        audience: String,
        /// A granted scope (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List client grants.
    List {
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long)]
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
    /// Block a user: no login and no refresh until unblocked.
    Block {
        #[arg(long)]
        user_id: String,
    },
    /// Unblock a user.
    Unblock {
        #[arg(long)]
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
