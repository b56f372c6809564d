//! `tessera-floor`: the floor and the bounds of issue 7, measured in-process against tessera's own
//! library code (store, token codec, key ring), with no HTTP in between. An example, so nothing
//! here links into the server.
//!
//! Every subcommand prints a human summary to stderr and, with `--json`, exactly one JSON object on
//! stdout (another binary runs these as subprocesses and parses that object; the key names are a
//! contract). Every measurement loop is bounded in time.
//!
//! - `seed`: inserts N refresh-token families straight through the store (the bulk
//!   `SupportStore::insert_families`, batches of multi-row inserts inside transactions) for a user,
//!   client and API that already exist (made with the `tessera` CLI in the same database, which also
//!   ran the migrations). The families are the ones `start_family` would issue for that client
//!   (its rotation mode and lifetimes), and the generation-0 refresh tokens of the first K are
//!   written to a file, one per line, MACed with the server's `TESSERA_SECRETS_KEY`.
//!   JSON: `{"families","seconds","per_s",…}`.
//! - `ceiling`: the database ceiling — the store's rotation statement alone
//!   (`RefreshStore::exchange_family`, no HTTP, no JWT). Makes its own fixture (migrations, user, API,
//!   client with `refresh_token` + `client_secret_post`, F families), then N tasks each chain their
//!   own family for warm-up + duration seconds, with the server's default pool size.
//!   JSON: `{"exchanges_per_s","latency_ms":{"p50","p90","p99","max","mean"},"clients","backend",…}`.
//! - `sign`: the cost of one access-token signature on one thread, per algorithm: RS256, PS256 and
//!   ES256 with tessera's own keys (generated and loaded by its key ring, signed the way `Minter`
//!   signs), and EdDSA with `jsonwebtoken` + ring for reference; also `Minter::sign` as the server
//!   calls it (RSA on the blocking pool). JSON: `{"algs":[{"alg","us_per_sign","signs_per_s",…}]}`.
//! - `bounded`: the "bounded cost as work grows" checks of issue 7 on one database, each a number:
//!   `exchange_rate` (10 live families vs `--families`), `rotation_chain` (rows and bytes before and
//!   after a 10,000-rotation chain on one family), `startup` (building the whole `App` — store,
//!   migrations, keys, built-in APIs — with 10 vs N stored families) and `purge` (the housekeeping
//!   purge over a large batch of families revoked before the retention period, timed, with
//!   concurrent exchanges whose worst latency during the purge is reported).
//! - `bare-server`: the floor as a server — one rotation `UPDATE … RETURNING` by token hash
//!   and one ES256 signature per request, nothing else — seeded with N tokens written to a file,
//!   so `tessera-bench --token-url … --tokens-file …` measures tessera against it in the same run.

mod bare;
mod bounded;
mod chain;
mod fixture;
mod seed;
mod sign;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tessera-floor",
    about = "Tessera's floor and bounds, in-process: seed, database ceiling, signing cost, bounded cost"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Insert N families through the store for an existing user, client and API.
    Seed(seed::SeedArgs),
    /// The store's rotation path alone: N tasks chaining their own families.
    Ceiling(chain::CeilingArgs),
    /// Per-algorithm signing cost of an access token on one thread.
    Sign(sign::SignArgs),
    /// Bounded cost as work grows: rate, rotation chain, start-up, purge.
    Bounded(bounded::BoundedArgs),
    /// The bare floor as a server (one UPDATE … RETURNING by token hash + one ES256 signature),
    /// for tessera-bench --token-url/--tokens-file: prints a JSON ready line, runs until killed.
    BareServer(bare::BareArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (json, value) = match cli.command {
        Command::Seed(args) => (args.json, seed::run(args).await?),
        Command::Ceiling(args) => (args.json, chain::run_ceiling(args).await?),
        Command::Sign(args) => (args.json, sign::run(args).await?),
        Command::Bounded(args) => (args.json, bounded::run(args).await?),
        Command::BareServer(args) => return bare::run(args).await,
    };
    if json {
        println!("{}", serde_json::to_string(&value)?);
    }
    Ok(())
}
