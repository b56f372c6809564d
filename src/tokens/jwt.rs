//! JWT minting and verification (RFC 7519) with the key ring. Verification pins the algorithm to
//! the one of the key named by `kid`, so `alg: none` and algorithm confusion fail.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use crate::clock::Timestamp;
use crate::domain::SigningAlg;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no active signing key for {0}")]
    NoKey(&'static str),
    #[error("signing failed: {0}")]
    Sign(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("expired")]
    Expired,
    #[error("wrong audience")]
    Audience,
}

/// `aud` is a string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(a) => a == aud,
            Self::Many(list) => list.iter().any(|a| a == aud),
        }
    }
}

/// Claims of an access token, as Auth0 writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub iat: Timestamp,
    pub exp: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
    pub azp: String,
    pub jti: String,
}

fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::ES256 => Algorithm::ES256,
    }
}

/// base64url (no padding) of the JSON of `value`: one part of a JWS.
fn b64_json<T: Serialize>(value: &T) -> Result<String, MintError> {
    serde_json::to_vec(value)
        .map(|json| URL_SAFE_NO_PAD.encode(json))
        .map_err(|e| MintError::Sign(e.to_string()))
}

/// Signs and verifies tokens for one issuer.
#[derive(Clone)]
pub struct Minter {
    keys: Arc<KeyRing>,
    issuer: String,
    /// RSA signatures run on threads of their own, one per core, never on the async runtime. A
    /// thread that finishes a signature takes the next queued one at once; with tokio's blocking
    /// pool behind a semaphore, each hand-over waited for a runtime worker to wake the finished
    /// task and start the next, which left a tenth of the 2 cores idle on the `openid`
    /// benchmark. The threads end when the last clone of the minter is dropped.
    rsa_jobs: flume::Sender<Box<dyn FnOnce() + Send>>,
}

impl Minter {
    pub fn new(keys: Arc<KeyRing>, issuer: String) -> Result<Self, MintError> {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let (rsa_jobs, queue) = flume::unbounded::<Box<dyn FnOnce() + Send>>();
        for i in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tessera-rsa-{i}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        job();
                    }
                })
                .map_err(|e| MintError::Sign(format!("cannot start a signing thread: {e}")))?;
        }
        Ok(Self {
            keys,
            issuer,
            rsa_jobs,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Signs `claims` with the active key of `alg`. RSA signing costs most of a millisecond, so it
    /// runs on the signing threads and never stalls the async runtime.
    pub async fn sign<T: Serialize + Send + 'static>(
        &self,
        alg: SigningAlg,
        claims: T,
        now: Timestamp,
    ) -> Result<String, MintError> {
        let key = self
            .keys
            .signing_key(alg, now)
            .ok_or(MintError::NoKey(alg.as_str()))?;
        let mut header = Header::new(algorithm(alg));
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        // JWS compact serialization (RFC 7515 §7.1) with the key parsed at load.
        let sign = move || {
            let mut token = b64_json(&header)?;
            token.push('.');
            token.push_str(&b64_json(&claims)?);
            let signature = key
                .signer
                .sign(token.as_bytes())
                .map_err(|_| MintError::Sign("the signing key refused to sign".into()))?;
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(signature, &mut token);
            Ok(token)
        };
        match alg {
            SigningAlg::ES256 => sign(),
            SigningAlg::RS256 | SigningAlg::PS256 => {
                let (done, signed) = tokio::sync::oneshot::channel();
                self.rsa_jobs
                    .send(Box::new(move || {
                        // The receiver is gone only if the request was dropped meanwhile.
                        let _ = done.send(sign());
                    }))
                    .map_err(|_| MintError::Sign("the signing threads stopped".into()))?;
                signed
                    .await
                    .map_err(|_| MintError::Sign("the signing thread stopped".into()))?
            }
        }
    }

    /// Verifies signature, key and issuer only (for hints such as `id_token_hint`, which may have
    /// expired and whose audience is a client).
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = self
            .keys
            .verification_key_any_time(&kid)
            .ok_or(VerifyError::UnknownKey)?;
        if header.alg != algorithm(key.alg) {
            return Err(VerifyError::Invalid);
        }
        let mut validation = Validation::new(algorithm(key.alg));
        validation.set_issuer(&[&self.issuer]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss"]);
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|_| VerifyError::Invalid)
    }

    /// Verifies a token this issuer signed: known published key, the key's own algorithm, `iss`,
    /// `exp` against `now`, and `aud` containing `audience`.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
        now: Timestamp,
    ) -> Result<T, VerifyError> {
        #[derive(Deserialize)]
        struct Registered {
            aud: Audience,
            exp: Timestamp,
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = self
            .keys
            .verification_key(&kid, now)
            .ok_or(VerifyError::UnknownKey)?;
        if header.alg != algorithm(key.alg) {
            return Err(VerifyError::Invalid);
        }
        let mut validation = Validation::new(algorithm(key.alg));
        validation.set_issuer(&[&self.issuer]);
        // Time and audience are checked below, against the injected clock.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss", "exp", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|_| VerifyError::Invalid)?;
        let registered: Registered =
            serde_json::from_value(data.claims.clone()).map_err(|_| VerifyError::Invalid)?;
        if registered.exp <= now {
            return Err(VerifyError::Expired);
        }
        if !registered.aud.contains(audience) {
            return Err(VerifyError::Audience);
        }
        serde_json::from_value(data.claims).map_err(|_| VerifyError::Invalid)
    }
}
