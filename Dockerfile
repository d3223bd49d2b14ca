FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
# The model client (reqwest with rustls) verifies TLS against the system's root certificates:
# without them it cannot be built, so warmline would not start with a model configured.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && test -s /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 warmline
COPY --from=build /src/target/release/warmline /usr/local/bin/warmline
USER warmline
ENV BIND=0.0.0.0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["warmline"]
CMD ["serve"]
