//! Bollard's policy domain, pure: the catalog of Apollo's actions, the reading of
//! Apollo-style arguments, grants, Cedar rules, Apollo's constraints, credit prices and
//! `decide()`. No I/O, no async, no panics: every byte it reads comes from an agent.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod args;
pub mod bulk;
pub mod catalog;
pub mod cost;
pub mod decide;
pub mod grant;
mod summary;
pub mod validate;

pub use args::{Args, ArgsError, read_args};
pub use bulk::{RecordDecision, decide_records, refused_clause};
pub use catalog::{
    Action, ActionId, Group, KeyScope, Kind, Method, Price, Route, Shape, by_id, by_tool, catalog,
    classify, valid_path_id,
};
pub use cost::PriceTable;
pub use decide::{
    ASK_ANNOTATION, AgentPolicy, Ask, Decision, PolicyError, Reason, Rule, check_rule,
    check_rule_name, decide,
};
pub use grant::{Grants, Level};
pub use validate::{Invalid, validate};
