//! Settings: built-in defaults (`config/default.toml`) → `--config FILE` → `TESSERA_*` variables
//! (and `DATABASE_URL`), validated once at start-up (DESIGN.md "Running it").

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

/// The compiled-in base layer; the same file documents every setting.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A secret that never prints itself.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A list given either as a TOML array or as one comma-separated string (environment variables).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    String(String),
}

impl ListOrString {
    fn items(self) -> Vec<String> {
        match self {
            Self::List(items) => items,
            Self::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The file and environment shape; unknown keys in files are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    bind: String,
    issuer: String,
    database_url: String,
    secrets_key: SecretString,
    bootstrap_client_id: String,
    bootstrap_client_secret: SecretString,
    trusted_proxies: ListOrString,
    log: String,
    log_format: LogFormat,
    db_max_connections: u32,
    id_token_lifetime: u64,
    key_activation_delay: u64,
    password_hash_concurrency: usize,
    revoke_refresh_tokens_on_password_change: bool,
    refresh_rate_limit_per_minute: u32,
    delegation_rate_limit_per_minute: u32,
    shutdown_grace: u64,
}

/// Setting names, as file keys; the environment variable is `TESSERA_` + the upper-cased key.
const KEYS: &[&str] = &[
    "bind",
    "issuer",
    "database_url",
    "secrets_key",
    "bootstrap_client_id",
    "bootstrap_client_secret",
    "trusted_proxies",
    "log",
    "log_format",
    "db_max_connections",
    "id_token_lifetime",
    "key_activation_delay",
    "password_hash_concurrency",
    "revoke_refresh_tokens_on_password_change",
    "refresh_rate_limit_per_minute",
    "delegation_rate_limit_per_minute",
    "shutdown_grace",
];

/// Settings whose value may come from a file named by `TESSERA_<KEY>_FILE` (container secrets).
const FILE_KEYS: &[&str] = &["secrets_key", "bootstrap_client_secret", "database_url"];

#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// `None` means "derive from the bound address" (loopback only); see [`Config::issuer_for`].
    pub issuer: Option<Url>,
    pub database_url: String,
    pub secrets_key: Option<SecretString>,
    pub bootstrap: Option<Bootstrap>,
    pub trusted_proxies: Vec<IpNet>,
    pub log: String,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
    pub id_token_lifetime: u64,
    pub key_activation_delay: u64,
    pub password_hash_concurrency: usize,
    pub revoke_refresh_tokens_on_password_change: bool,
    pub refresh_rate_limit_per_minute: u32,
    pub delegation_rate_limit_per_minute: u32,
    pub shutdown_grace: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Loads the layers from the real process environment.
    pub fn load(file: Option<&Path>) -> Result<(Self, Vec<String>), ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads the layers with the given environment; answers the config and warnings to log
    /// (unknown `TESSERA_*` variables are warned about, not refused: Kubernetes injects
    /// `TESSERA_PORT`-style service variables).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            figment = figment.merge(Toml::file(path));
        }

        let known: BTreeSet<String> = KEYS.iter().map(|k| k.to_ascii_uppercase()).collect();
        let mut warnings = Vec::new();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in env {
            if name == "DATABASE_URL" {
                // The conventional name; an explicit TESSERA_DATABASE_URL(_FILE) wins over it.
                pairs.insert(0, ("database_url".into(), value));
                continue;
            }
            let Some(key) = name.strip_prefix("TESSERA_") else {
                continue;
            };
            if known.contains(key) {
                pairs.push((key.to_ascii_lowercase(), value));
            } else if let Some(base) = key.strip_suffix("_FILE")
                && FILE_KEYS.contains(&base.to_ascii_lowercase().as_str())
            {
                let path = PathBuf::from(&value);
                let content = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::File { path, source })?;
                pairs.push((base.to_ascii_lowercase(), content.trim().to_owned()));
            } else {
                warnings.push(format!("ignoring unknown environment variable {name}"));
            }
        }
        for (key, value) in pairs {
            figment = figment.merge(figment::providers::Serialized::default(
                &key,
                value_for(&key, value),
            ));
        }
        let raw: RawConfig = figment.extract().map_err(Box::new)?;
        Ok((Self::validate(raw)?, warnings))
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let bind: SocketAddr = raw.bind.parse().map_err(|_| {
            invalid(
                "bind",
                format!("{:?} is not an address such as 127.0.0.1:3000", raw.bind),
            )
        })?;
        let issuer = if raw.issuer.trim().is_empty() {
            if !bind.ip().is_loopback() {
                return Err(invalid(
                    "issuer",
                    format!(
                        "TESSERA_ISSUER is required when binding a non-loopback address ({bind}); \
                         set it to the public base URL, e.g. https://auth.example.com/"
                    ),
                ));
            }
            None
        } else {
            Some(parse_issuer(&raw.issuer)?)
        };
        if !(raw.database_url.starts_with("sqlite:")
            || raw.database_url.starts_with("postgres://")
            || raw.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "DATABASE_URL must start with sqlite: or postgres://",
            ));
        }
        let secrets_key = if raw.secrets_key.is_empty() {
            None
        } else if raw.secrets_key.expose().chars().count() < 32 {
            return Err(invalid(
                "secrets_key",
                "TESSERA_SECRETS_KEY needs at least 32 characters of randomness (openssl rand -base64 32)",
            ));
        } else {
            Some(raw.secrets_key)
        };
        let bootstrap = match (
            raw.bootstrap_client_id.trim().is_empty(),
            raw.bootstrap_client_secret.is_empty(),
        ) {
            (true, true) => None,
            (false, false) => {
                if raw.bootstrap_client_secret.expose().chars().count() < 32 {
                    return Err(invalid(
                        "bootstrap_client_secret",
                        "TESSERA_BOOTSTRAP_CLIENT_SECRET needs at least 32 characters",
                    ));
                }
                Some(Bootstrap {
                    client_id: raw.bootstrap_client_id.trim().to_owned(),
                    client_secret: raw.bootstrap_client_secret,
                })
            }
            _ => {
                return Err(invalid(
                    "bootstrap_client_id",
                    "set both TESSERA_BOOTSTRAP_CLIENT_ID and TESSERA_BOOTSTRAP_CLIENT_SECRET, or neither",
                ));
            }
        };
        let trusted_proxies = raw
            .trusted_proxies
            .items()
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| invalid("trusted_proxies", format!("{s:?} is not a CIDR")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw.db_max_connections == 0 {
            return Err(invalid("db_max_connections", "must be at least 1"));
        }
        if raw.id_token_lifetime == 0 {
            return Err(invalid("id_token_lifetime", "must be at least 1 second"));
        }
        Ok(Self {
            bind,
            issuer,
            database_url: raw.database_url,
            secrets_key,
            bootstrap,
            trusted_proxies,
            log: raw.log,
            log_format: raw.log_format,
            db_max_connections: raw.db_max_connections,
            id_token_lifetime: raw.id_token_lifetime,
            key_activation_delay: raw.key_activation_delay,
            password_hash_concurrency: raw.password_hash_concurrency,
            revoke_refresh_tokens_on_password_change: raw.revoke_refresh_tokens_on_password_change,
            refresh_rate_limit_per_minute: raw.refresh_rate_limit_per_minute,
            delegation_rate_limit_per_minute: raw.delegation_rate_limit_per_minute,
            shutdown_grace: raw.shutdown_grace,
        })
    }

    /// The issuer for a server bound to `addr`: the configured one, else `http://{addr}/`.
    pub fn issuer_for(&self, addr: SocketAddr) -> Url {
        match &self.issuer {
            Some(url) => url.clone(),
            // A SocketAddr always makes a valid http URL.
            None => Url::parse(&format!("http://{addr}/")).unwrap_or_else(|_| {
                Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!())
            }),
        }
    }

    pub fn is_postgres(&self) -> bool {
        !self.database_url.starts_with("sqlite:")
    }
}

/// Environment values are strings; numbers and lists are converted to what the file would hold.
fn value_for(key: &str, value: String) -> figment::value::Value {
    use figment::value::{Num, Value};
    match key {
        "db_max_connections"
        | "id_token_lifetime"
        | "key_activation_delay"
        | "password_hash_concurrency"
        | "shutdown_grace"
        | "refresh_rate_limit_per_minute"
        | "delegation_rate_limit_per_minute" => match value.trim().parse::<u64>() {
            Ok(n) => Value::from(Num::U64(n)),
            Err(_) => Value::from(value),
        },
        "revoke_refresh_tokens_on_password_change" => match value.trim() {
            "true" | "1" => Value::from(true),
            "false" | "0" => Value::from(false),
            _ => Value::from(value),
        },
        _ => Value::from(value),
    }
}

/// Issuers are absolute http(s) URLs without query or fragment, normalised to end with `/`.
pub fn parse_issuer(s: &str) -> Result<Url, ConfigError> {
    let mut url =
        Url::parse(s.trim()).map_err(|e| invalid("issuer", format!("{s:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("issuer", "TESSERA_ISSUER must be an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "issuer",
            "TESSERA_ISSUER must not have a query or fragment",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_derive_a_loopback_issuer() {
        let (config, warnings) = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
        assert!(config.issuer.is_none());
        assert_eq!(
            config.issuer_for(config.bind).as_str(),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(config.database_url, "sqlite://tessera.db");
        assert!(warnings.is_empty());
    }

    #[test]
    fn environment_overrides_and_unknown_variables_warn() {
        let (config, warnings) = Config::load_from(
            None,
            env(&[
                ("TESSERA_BIND", "127.0.0.1:4000"),
                ("TESSERA_ISSUER", "https://auth.example.com"),
                ("DATABASE_URL", "postgres://localhost/x"),
                ("TESSERA_DB_MAX_CONNECTIONS", "4"),
                ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
                ("TESSERA_PORT", "tcp://10.0.0.1:3000"),
            ]),
        )
        .unwrap();
        assert_eq!(config.bind.port(), 4000);
        assert_eq!(
            config.issuer.as_ref().unwrap().as_str(),
            "https://auth.example.com/"
        );
        assert!(config.is_postgres());
        assert_eq!(config.db_max_connections, 4);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(
            warnings,
            vec!["ignoring unknown environment variable TESSERA_PORT"]
        );
    }

    #[test]
    fn non_loopback_bind_requires_an_issuer() {
        let err = Config::load_from(None, env(&[("TESSERA_BIND", "0.0.0.0:3000")])).unwrap_err();
        assert!(
            err.to_string().contains("TESSERA_ISSUER is required"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:5000\"\nbnid = \"oops\"\n").unwrap();
        let err = Config::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("bnid"), "{err}");
        std::fs::write(&path, "bind = \"127.0.0.1:5000\"\n").unwrap();
        let (config, _) = Config::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!(config.bind.port(), 5000);
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        let err = Config::load_from(None, env(&[("TESSERA_SECRETS_KEY", "short")])).unwrap_err();
        assert!(err.to_string().contains("at least 32"));
        let secret = SecretString::new("x".repeat(40));
        assert!(!format!("{secret:?}").contains("xxx"));
    }

    #[test]
    fn bootstrap_needs_both_halves() {
        let err =
            Config::load_from(None, env(&[("TESSERA_BOOTSTRAP_CLIENT_ID", "admin")])).unwrap_err();
        assert!(err.to_string().contains("or neither"));
    }
}
