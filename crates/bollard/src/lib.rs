//! Bollard: a gate between a team's AI agents and its Apollo.io account. Each agent has its
//! own key; every call is classified, decided by the agent's grants and rules, recorded in
//! plain English before it is forwarded, and shaped on the way back.
//!
//! `app` binds the listeners; `gate` is the one function both front doors (`rest`, `mcp`)
//! call; `store` holds everything durable; `audit` writes the record.

pub mod admin;
pub mod app;
pub mod approval;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub mod error;
pub mod gate;
pub mod governed;
pub mod health;
pub mod keys;
pub mod limits;
pub mod listener;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod ops;
pub mod reconcile;
pub mod recovery;
pub mod relay;
pub mod rest;
pub mod store;
pub mod upstream;
