//! Black-box tests over HTTP against a real Postgres, one fresh database per test.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod calls;
mod cli;
mod compat;
mod events;
mod health;
mod idempotency;
mod jobs;
mod migrations;
mod openapi;
mod rooms;
mod structure;
mod summaries;
mod tokens;
mod transcripts;
mod transfers;
mod webhooks;
