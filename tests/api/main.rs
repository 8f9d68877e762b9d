//! The one integration test binary: `cargo test --test api`.

mod check;
mod delivery;
mod durability;
mod fake_cio;
mod golden;
mod helpers;
mod ingest;
mod preview;
mod webhook;
