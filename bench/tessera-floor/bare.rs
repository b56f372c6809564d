//! `bare-server`: the floor of issue 7 as a server — an axum + sqlx handler that does nothing but
//! one rotation `UPDATE … RETURNING` by token hash and one ES256 signature. No client
//! authentication, no reuse detection, no lifetimes, no audit, no rate limit: what tessera's
//! exchange costs beyond this is the price of its rules. Same wire shape as tessera's
//! `/oauth/token` (form body in, JSON out), so `tessera-bench --token-url … --tokens-file …`
//! drives both alike.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tessera::clock::{Clock, SystemClock};

#[derive(Debug, Args)]
pub struct BareArgs {
    /// A PostgreSQL database the floor may own (it creates and empties table `bare_tokens`).
    #[arg(long)]
    database_url: String,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:3300")]
    bind: std::net::SocketAddr,
    /// Tokens seeded at start.
    #[arg(long, default_value_t = 1024)]
    families: usize,
    /// Where the seeded tokens go, one per line.
    #[arg(long)]
    tokens_out: PathBuf,
    /// Pool size (tessera's default is 16).
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

struct Bare {
    pool: PgPool,
    key: EncodingKey,
    header: Header,
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn run(args: BareArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.bind.ip().is_loopback(), "loopback addresses only");
    let pool = PgPoolOptions::new()
        .max_connections(args.pool)
        .connect(&args.database_url)
        .await
        .context("connect")?;
    sqlx::query(
        "create table if not exists bare_tokens (hash bytea primary key, \
         user_id text not null, scope text not null, generation bigint not null)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("truncate bare_tokens").execute(&pool).await?;
    let mut file = std::fs::File::create(&args.tokens_out)?;
    for i in 0..args.families {
        let token = new_token();
        sqlx::query("insert into bare_tokens values ($1, $2, 'offline_access', 0)")
            .bind(hash(&token))
            .bind(format!("user-{i}"))
            .execute(&pool)
            .await?;
        writeln!(file, "{token}")?;
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|_| anyhow::anyhow!("P-256 key generation"))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("bare".into());
    let state = Arc::new(Bare {
        pool,
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        header,
    });
    let app = Router::new()
        .route("/oauth/token", post(exchange))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    println!(
        "{}",
        json!({"ready": true, "token_url": format!("http://{}/oauth/token", args.bind),
               "tokens_file": args.tokens_out, "pid": std::process::id()})
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn exchange(
    State(bare): State<Arc<Bare>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(old) = form.get("refresh_token") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        )
            .into_response();
    };
    let next = new_token();
    let row: Result<Option<(String, String, i64)>, _> = sqlx::query_as(
        "update bare_tokens set hash = $2, generation = generation + 1 where hash = $1 \
         returning user_id, scope, generation",
    )
    .bind(hash(old))
    .bind(hash(&next))
    .fetch_optional(&bare.pool)
    .await;
    let (sub, scope, _) = match row {
        Ok(Some(row)) => row,
        Ok(None) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let now = SystemClock.now();
    let claims = json!({"iss": "http://127.0.0.1/", "sub": sub, "aud": "https://bench.api/",
        "iat": now, "exp": now + 86_400, "scope": scope, "jti": new_token()});
    match jsonwebtoken::encode(&bare.header, &claims, &bare.key) {
        Ok(access_token) => Json(json!({"access_token": access_token, "refresh_token": next,
            "token_type": "Bearer", "expires_in": 86_400}))
        .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
