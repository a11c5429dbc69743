//! Integration tests: one binary, a module per feature. Each test starts its own sandbox
//! on port 0 with a manual clock and talks to it over HTTP with reqwest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test crate: its helpers fail the test loudly, which is their job"
)]

mod accounts;
mod auth;
mod bad_input;
mod contacts;
mod credits;
mod deals;
mod faults;
mod helpers;
mod more;
mod organizations;
mod outreach;
mod people;
mod ratelimit;
mod sequences;
mod tasks;
mod webhooks;
