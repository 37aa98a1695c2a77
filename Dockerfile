# Builds the `comics` binary; docker-compose.yml runs it as separate services.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p comics

FROM debian:bookworm-slim
# curl: the compose healthchecks call /health/ready.
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 comics \
    && mkdir -p /var/lib/comics/storage && chown comics /var/lib/comics/storage
COPY --from=build /src/target/release/comics /usr/local/bin/comics
USER comics
ENV COMICS_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["comics"]
CMD ["serve"]
