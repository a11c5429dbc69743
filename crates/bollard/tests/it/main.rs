//! The gateway's integration tests: one binary, the real app on port 0 against the real
//! sandbox, checking what an agent and an admin see and what reached the sandbox.

mod helpers;

mod admin;
mod audit;
mod binary;
mod chain;
mod cli;
mod commands;
mod doctor;
mod gate;
mod limits;
mod mcp;
mod metrics;
mod readme;
mod replicas;
mod smuggling;
