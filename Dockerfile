# Tessera container image.
#
#   docker build -t tessera .
#   docker run -p 3000:3000 -e TESSERA_ISSUER=http://localhost:3000/ tessera
#
# The image binds 0.0.0.0:3000 (TESSERA_BIND). Off loopback the server refuses to start without
# TESSERA_ISSUER, the public base URL (e.g. https://auth.example.com/), so always set it.
# With no DATABASE_URL it uses SQLite at /var/lib/tessera/tessera.db (plus its generated
# tessera.db.secret): mount a volume on /var/lib/tessera to keep them. See docker-compose.yml for
# PostgreSQL. Migrations, templates and config/default.toml are compiled into the binary.

# --- Toolchain with cargo-chef (dependency caching) -----------------------------------------------
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /build

# --- Planner: the dependency "recipe" changes only when Cargo.toml / Cargo.lock do ----------------
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The load tools are a workspace member: cargo reads their manifest and sources to load the
# workspace, though the image never builds them.
COPY bench/Cargo.toml ./bench/
COPY bench/tessera-bench ./bench/tessera-bench
COPY bench/tessera-floor ./bench/tessera-floor
RUN cargo chef prepare --recipe-path recipe.json

# --- Builder: dependencies first (cached layer), then the crate itself ----------------------------
FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml ./bench/
COPY bench/tessera-bench ./bench/tessera-bench
COPY bench/tessera-floor ./bench/tessera-floor
# sqlx::migrate! embeds migrations/, include_str! embeds config/default.toml and askama compiles
# templates/ into the binary, all at build time.
COPY migrations ./migrations
COPY config ./config
COPY templates ./templates
COPY src ./src
RUN cargo build --release --locked --package tessera --bin tessera

# --- Runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates tracks the distribution's current CA bundle; pinning its version would only
# make the build break when Debian publishes an update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tessera \
    && useradd --system --no-log-init --uid 10001 --gid tessera \
        --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera \
    && install -d -o tessera -g tessera -m 0750 /var/lib/tessera

COPY --from=builder /build/target/release/tessera /usr/local/bin/tessera
# Reference copies only: the binary embeds both.
COPY config/ /etc/tessera/config/
COPY migrations/ /etc/tessera/migrations/

WORKDIR /var/lib/tessera
ENV TESSERA_BIND=0.0.0.0:3000
EXPOSE 3000
# No HEALTHCHECK: the image has no HTTP client (curl/wget) to run one with.
# The numeric form of the `tessera` user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENTRYPOINT ["tessera"]
CMD ["serve"]
