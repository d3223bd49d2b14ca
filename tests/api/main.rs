//! Black-box tests over HTTP against a real Postgres, one fresh database per test.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod calls;
mod cli;
mod compat;
mod console;
mod events;
mod export;
mod faults;
mod health;
mod idempotency;
mod inputs;
mod jobs;
mod matrix;
mod migrations;
mod openapi;
mod reviews;
mod rooms;
mod secrets;
mod stats;
mod structure;
mod summaries;
mod tokens;
mod transcripts;
mod transfers;
mod webhooks;
