//! cio-relay: a self-hosted relay that speaks Segment's Tracking API and delivers to
//! Customer.io the way Segment's "Customer.io (Actions)" destination does.
//!
//! The pipeline, in five sentences. The ingest server ([`ingest`]) accepts Segment events on
//! the same paths and with the same authentication as Segment's own API, normalizes them
//! ([`event`]) and hands them on. Each destination's subscription table ([`subscription`])
//! matches events against FQL triggers parsed once at start-up. Every matching subscription
//! maps the event through its action ([`actions`], with the mapping directives of
//! [`mapping`]) into Customer.io Track API operations, the same ones the reference builds;
//! [`preview`] is that one path. Delivery ([`delivery`]) batches the operations per workspace,
//! keeps each person's operations in order, paces and retries them, and dead-letters what
//! Customer.io refuses.
#![forbid(unsafe_code)]

pub mod actions;
pub mod app;
pub mod cio;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod event;
pub mod ingest;
pub mod mapping;
pub mod preview;
pub mod spool;
pub mod subscription;
pub mod telemetry;
