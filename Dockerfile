# Multi-stage build: compile with the Rust toolchain, run on a small Debian image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/errata

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data errata \
    && mkdir -p /data && chown errata /data
COPY --from=build /src/target/release/errata /usr/local/bin/errata
USER errata
ENV ERRATA_DATA_DIR=/data ERRATA_BIND=0.0.0.0:8000
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["errata"]
CMD ["serve"]
