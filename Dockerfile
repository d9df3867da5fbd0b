# The triage binary in a small image: `docker build -t triage .`
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p triage-cli && cp target/release/triage /usr/local/bin/triage

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/triage triage \
    && mkdir -p /var/lib/triage && chown triage /var/lib/triage
COPY --from=build /usr/local/bin/triage /usr/local/bin/triage
USER triage
EXPOSE 8080
ENTRYPOINT ["triage"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
