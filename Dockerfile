# Build: docker build -t cio-relay .
# Run:   docker run -p 8080:8080 -v $PWD/cio-relay.toml:/etc/cio-relay/cio-relay.toml:ro \
#          -e CIO_RELAY_DESTINATION_PRODUCTION_API_KEY=... cio-relay
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Build the dependencies first, against placeholder sources, so that source edits do not
# rebuild them (every target the manifest names must exist for cargo to read it).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/api examples \
    && for f in src/main.rs benches/load.rs benches/pipeline.rs tests/api/main.rs \
         examples/spool_bench.rs; do echo 'fn main() {}' > "$f"; done \
    && touch src/lib.rs \
    && cargo build --release --locked --bin cio-relay
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin cio-relay \
    && strip target/release/cio-relay

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/cio-relay --create-home relay
COPY --from=build /src/target/release/cio-relay /usr/local/bin/cio-relay
COPY config/cio-relay.example.toml /etc/cio-relay/cio-relay.example.toml
USER relay
WORKDIR /var/lib/cio-relay
# Without a mounted /etc/cio-relay/cio-relay.toml the embedded dry-run default runs.
# MIMALLOC_ALLOW_THP=0: no transparent huge pages even on hosts that force them (they kept
# whole 2 MiB pages resident; docs/operations.md, "Memory").
ENV CIO_RELAY__SERVER__DATA_DIR=/var/lib/cio-relay \
    CIO_RELAY_HEALTHCHECK_ADDR=127.0.0.1:8080 \
    MIMALLOC_ALLOW_THP=0
VOLUME ["/var/lib/cio-relay"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["cio-relay", "healthcheck"]
ENTRYPOINT ["/bin/sh", "-c", "if [ -f /etc/cio-relay/cio-relay.toml ]; then exec cio-relay \"$@\" --config /etc/cio-relay/cio-relay.toml; else exec cio-relay \"$@\"; fi", "--"]
CMD ["serve"]
