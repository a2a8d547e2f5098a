# Multi-stage build: compile with the Rust toolchain, run on a slim image as a non-root user.
FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY fixtures ./fixtures
COPY templates ./templates
RUN cargo build --release --locked && strip target/release/countersign

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/countersign --create-home countersign
COPY --from=build /src/target/release/countersign /usr/local/bin/countersign
USER countersign
WORKDIR /var/lib/countersign
ENV COUNTERSIGN_BIND=0.0.0.0:8080 \
    COUNTERSIGN_JSON_LOGS=true
EXPOSE 8080
# Production: DATABASE_URL=postgres://..., PLAID_ENV, PLAID_CLIENT_ID, PLAID_SECRET, COUNTERSIGN_MASTER_KEY.
ENTRYPOINT ["/usr/local/bin/countersign"]
CMD ["serve"]
