# Plaza: one binary, one small image.
# The build stage runs the same cargo command CI runs for the release binary
# (`cargo build --release --locked --bin plaza`, see .ci/run and README).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin plaza

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/plaza plaza
COPY --from=build /src/target/release/plaza /usr/local/bin/plaza
USER plaza
WORKDIR /var/lib/plaza
# Config by environment (any key: PLAZA_<SECTION>__<KEY>), or mount a file and
# set PLAZA_CONFIG=/etc/plaza/plaza.toml.
ENV PLAZA_SERVER__BIND=0.0.0.0:8080 \
    PLAZA_SERVER__DATA_DIR=/var/lib/plaza/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["plaza", "healthcheck", "127.0.0.1:8080"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["plaza"]
CMD ["serve"]
