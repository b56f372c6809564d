//! Tokens: signing keys and JWTs (RFC 7515/7517/7519), secrets at rest, and random values.

pub mod jwt;
pub mod keys;
pub mod secrets;

pub use jwt::{AccessClaims, Audience, MintError, Minter, VerifyError};
pub use keys::{KeyError, KeyMaterial, KeyRing};
pub use secrets::Secrets;
