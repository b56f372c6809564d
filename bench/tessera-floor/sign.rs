//! `sign`: what one access-token signature costs on one thread, per algorithm.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera::config::SecretString;
use tessera::domain::SigningAlg;
use tessera::tokens::keys::KeyMaterial;
use tessera::tokens::secrets::{random_alphanumeric, random_hex, random_token};
use tessera::tokens::{AccessClaims, Audience, KeyRing, Minter, Secrets};

use crate::fixture;

#[derive(Args)]
pub struct SignArgs {
    /// Seconds of signing per algorithm (and half as long again through `Minter::sign`).
    #[arg(long, default_value_t = 2)]
    duration: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// An access token's claims as the refresh grant mints them (no ID token).
fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: "http://127.0.0.1:3000/".to_owned(),
        sub: format!("auth0|{}", random_hex(24)),
        aud: Audience::One("https://bench.api/".to_owned()),
        iat: now,
        exp: now + 86_400,
        scope: Some("offline_access".to_owned()),
        gty: None,
        azp: random_alphanumeric(32),
        jti: random_token(16),
    }
}

/// Runs `sign` for `duration` on this thread; answers (µs per signature, signatures).
fn time_signing(
    duration: Duration,
    mut sign: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(f64, u64)> {
    for _ in 0..10 {
        sign()?;
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        for _ in 0..8 {
            sign()?;
        }
        n += 8;
    }
    Ok((started.elapsed().as_secs_f64() * 1e6 / n as f64, n))
}

/// `jsonwebtoken::encode` of `claims` with `key` (which parses the key again each time).
fn time_jsonwebtoken(
    header: &Header,
    claims: &AccessClaims,
    key: &EncodingKey,
    duration: Duration,
) -> anyhow::Result<(f64, u64)> {
    time_signing(duration, || {
        std::hint::black_box(jsonwebtoken::encode(header, claims, key)?);
        Ok(())
    })
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::ES256 => Algorithm::ES256,
    }
}

pub async fn run(args: SignArgs) -> anyhow::Result<Value> {
    let duration = Duration::from_secs(args.duration.max(1));
    // Tessera's own keys: generated, sealed and stored by `ensure_keys`, opened by the key ring.
    let store = fixture::open("sqlite::memory:", 1).await?;
    let secrets = Arc::new(Secrets::new(&SecretString::new(random_token(32))));
    let now = fixture::now();
    eprintln!("generating tessera's signing keys (RSA-2048 ×2, P-256) …");
    tessera::tokens::keys::ensure_keys(&store, &secrets, now).await?;
    let keyring = Arc::new(KeyRing::new(secrets));
    keyring.reload(&store).await?;
    let claims = claims(now);
    // A signing input of an access token's size.
    let input = format!(
        "{}.{}",
        random_token(24),
        random_token(serde_json::to_vec(&claims)?.len())
    );
    let mut algs = Vec::new();
    for alg in [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256] {
        let key = keyring
            .signing_key(alg, now)
            .with_context(|| format!("no {} key", alg.as_str()))?;
        let (us, n) = time_signing(duration, || {
            std::hint::black_box(
                key.signer
                    .sign(input.as_bytes())
                    .map_err(|_| anyhow::anyhow!("signing failed"))?,
            );
            Ok(())
        })?;
        eprintln!(
            "{:<6} {us:>8.1} µs/signature  {:>8.0}/s  (tessera's key, parsed once; {n} signatures)",
            alg.as_str(),
            1e6 / us
        );
        algs.push((alg.as_str(), us, n, "tessera-keyring"));
    }
    // The reference: jsonwebtoken + ring, which parse the key on every signature.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("reference".into());
    header.typ = Some("JWT".into());
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let material = KeyMaterial::generate(alg)?;
        let key = match alg {
            SigningAlg::ES256 => EncodingKey::from_ec_der(&material.private_der),
            _ => EncodingKey::from_rsa_der(&material.private_der),
        };
        header.alg = jwt_alg(alg);
        let (us, n) = time_jsonwebtoken(&header, &claims, &key, duration)?;
        eprintln!(
            "{:<6} {us:>8.1} µs/signature  {:>8.0}/s  (jsonwebtoken + ring reference, {n} signatures)",
            alg.as_str(),
            1e6 / us
        );
        algs.push((alg.as_str(), us, n, "jsonwebtoken-reference"));
    }
    // EdDSA is not one of tessera's algorithms: a reference, with jsonwebtoken + ring.
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|e| anyhow::anyhow!("cannot generate an Ed25519 key: {e}"))?;
    let ed_key = EncodingKey::from_ed_der(pkcs8.as_ref());
    header.alg = Algorithm::EdDSA;
    let (us, n) = time_jsonwebtoken(&header, &claims, &ed_key, duration)?;
    eprintln!(
        "EdDSA  {us:>8.1} µs/signature  {:>8.0}/s  (jsonwebtoken + ring reference, {n} signatures)",
        1e6 / us
    );
    algs.push(("EdDSA", us, n, "jsonwebtoken-reference"));

    // The same signatures as the server asks for them: `Minter::sign` (RSA on the signing threads),
    // one at a time.
    let minter = Minter::new(keyring, "http://127.0.0.1:3000/".to_owned())?;
    let mut via_minter = serde_json::Map::new();
    for alg in [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256] {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < duration / 2 || n == 0 {
            std::hint::black_box(minter.sign(alg, claims.clone(), now).await?);
            n += 1;
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        eprintln!(
            "{:<6} {us:>8.1} µs per Minter::sign (with the claims clone and, for RSA, the signing threads)",
            alg.as_str()
        );
        via_minter.insert(alg.as_str().to_owned(), json!(us));
    }
    let rows: Vec<Value> = algs
        .iter()
        .map(|(alg, us, n, key)| {
            let minter = (*key == "tessera-keyring")
                .then(|| via_minter.get(*alg))
                .flatten();
            json!({
                "alg": alg,
                "us_per_sign": us,
                "signs_per_s": 1e6 / us,
                "signatures": n,
                "key": key,
                "us_per_minter_sign": minter,
            })
        })
        .collect();
    Ok(json!({ "algs": rows, "duration_s": duration.as_secs(), "threads": 1 }))
}
