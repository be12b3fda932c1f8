# Dockerfile - the catchup-jobs image for Cloud Run.
# Stage 1 builds the release binary on Debian 12 with the -dev packages;
# stage 2 is debian:12-slim with only the shared libraries the binary needs
# (tests/dockerfile_libs.sh checks that list against `readelf -d`), CA
# certificates and time zones, the binary and config/, running as a non-root
# user. Cloud Run sets PORT; the default here serves the same 8080.

FROM debian:12 AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config python3 \
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev \
      libpq-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup build -Dtests=false --buildtype=release \
 && ninja -C build \
 && strip build/catchup-jobs

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libcurl4 libjansson4 libssl3 libpq5 libsqlite3-0 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin catchup \
 && mkdir -p /app/data \
 && chown catchup:catchup /app/data
WORKDIR /app
COPY --from=builder /src/build/catchup-jobs /app/catchup-jobs
COPY config/ /app/config/
USER 10001:10001
ENV CONFIG_DIR=/app/config PORT=8080
EXPOSE 8080
ENTRYPOINT ["/app/catchup-jobs"]
CMD ["serve"]
