//! Page and per-page arguments, shared by every search route.
//!
//! `per_page` above 100 is silently capped, as Apollo does. Apollo serves at most 500
//! pages (50,000 records) per query; for a page beyond 500 the sandbox answers 422 with
//! a sentence rather than an empty page, so a client learns why nothing came back.
//! Pages below 1 are read as page 1.

use serde_json::{Value, json};

use crate::args::Args;
use crate::error::ApiError;

pub const MAX_PER_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;
pub const DEFAULT_PER_PAGE: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub page: usize,
    pub per_page: usize,
}

impl Paging {
    pub fn from_args(args: &Args) -> Result<Self, ApiError> {
        let page = args.int("page")?.unwrap_or(1).max(1);
        let per_page = args
            .int("per_page")?
            .map_or(DEFAULT_PER_PAGE as i64, |n| n.clamp(1, MAX_PER_PAGE as i64));
        if page > MAX_PAGE as i64 {
            return Err(ApiError::unprocessable(format!(
                "page must be at most {MAX_PAGE} (Apollo returns at most 50,000 records per search); got {page}."
            )));
        }
        Ok(Self {
            page: page as usize,
            per_page: per_page as usize,
        })
    }

    pub fn offset(&self) -> usize {
        (self.page - 1) * self.per_page
    }

    /// The slice of `0..total` this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.offset().min(total);
        start..(start + self.per_page).min(total)
    }

    pub fn pagination(&self, total: usize) -> Value {
        json!({
            "page": self.page,
            "per_page": self.per_page,
            "total_entries": total,
            "total_pages": total.div_ceil(self.per_page),
        })
    }

    /// The envelope fields Apollo's searches share (pagination, breadcrumbs, flags).
    pub fn envelope(
        &self,
        total: usize,
        breadcrumbs: Vec<Value>,
    ) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert("breadcrumbs".into(), Value::Array(breadcrumbs));
        map.insert("partial_results_only".into(), Value::Bool(false));
        map.insert("has_join".into(), Value::Bool(false));
        map.insert("disable_eu_prospecting".into(), Value::Bool(false));
        map.insert("partial_results_limit".into(), Value::from(10_000));
        map.insert("pagination".into(), self.pagination(total));
        map.insert("num_fetch_result".into(), Value::Null);
        map
    }
}
