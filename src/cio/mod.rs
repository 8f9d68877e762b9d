//! The Customer.io Track API client.

pub mod client;

pub use client::{Client, Response, SendError};
