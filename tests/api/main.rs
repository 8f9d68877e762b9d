//! The one integration test binary: `cargo test --test api`.

mod golden;
mod check;
mod preview;
mod helpers;
mod ingest;
mod webhook;
