//! The gateway's integration tests: one binary, the real app on port 0 against the real
//! sandbox, checking what an agent and an admin see and what reached the sandbox.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test crate: its helpers fail the test loudly, which is their job"
)]

mod helpers;

mod admin;
mod approvals;
mod audit;
mod binary;
mod catalog;
mod chain;
mod cli;
mod clients;
mod commands;
mod doctor;
mod faults;
mod first_day;
mod gate;
mod limits;
mod listener;
mod mcp;
mod mcp_sdk;
mod mcp_sessions;
mod mcp_stateless;
mod metrics;
mod oauth;
mod parsing;
mod privacy;
mod proof;
mod readme;
mod recovery;
mod relay;
mod replicas;
mod smuggling;
