//! The one integration test binary: `cargo test --test api`.

mod check;
mod golden;
mod helpers;
mod ingest;
mod preview;
mod webhook;
