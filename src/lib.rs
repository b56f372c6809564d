//! Tessera: an OAuth 2.0 / OpenID Connect authorization server, wire-compatible with Auth0.

pub mod clock;
pub mod config;
pub mod domain;
pub mod store;
pub mod tokens;
