FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 warmline
COPY --from=build /src/target/release/warmline /usr/local/bin/warmline
USER warmline
ENV BIND=0.0.0.0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["warmline"]
CMD ["serve"]
