# Builds the `comics` binary; docker-compose.yml runs it as separate services.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p comics

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 comics
COPY --from=build /src/target/release/comics /usr/local/bin/comics
USER comics
ENV COMICS_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["comics"]
CMD ["serve"]
