//! Organization search and enrichment: 1 credit per page returned, 1 per enrichment.

use serde_json::{Value, json};

use super::{Reply, splice};
use crate::args::Args;
use crate::credit::CreditKind;
use crate::data::{OrganizationQuery, render};
use crate::error::ApiError;
use crate::paging::Paging;
use crate::state::State;

/// `mixed_companies/search`. An empty page costs nothing.
pub fn search(state: &State, args: &Args) -> Result<Reply, ApiError> {
    let query = OrganizationQuery::from_args(args)?;
    let paging = Paging::from_args(args)?;
    let page = state.db.search_organizations(&query, paging);
    if !page.items.is_empty() {
        state.credits.charge(
            CreditKind::OrganizationSearch,
            state.config.prices.organization_search_page,
        );
    }
    let mut envelope = paging.envelope(page.total, query.breadcrumbs());
    envelope.insert("accounts".into(), json!([]));
    envelope.insert(
        "model_ids".into(),
        json!(
            page.items
                .iter()
                .map(|i| &state.db.organizations[*i].id)
                .collect::<Vec<_>>()
        ),
    );
    Ok(Reply::Raw(splice(
        envelope,
        "organizations",
        &state.db.organizations_json(&page.items),
    )))
}

/// `organizations/enrich`. Unknown organization: 200 with `organization: null`, no credit.
pub fn enrich(state: &State, args: &Args) -> Result<Value, ApiError> {
    let db = &state.db;
    let domain = args.str("domain")?;
    let website = args.str("website")?;
    let linkedin = args.str("linkedin_url")?;
    let name = args.str("name")?;
    if domain.is_none() && website.is_none() && linkedin.is_none() && name.is_none() {
        return Err(ApiError::unprocessable(
            "Please provide at least one of domain, linkedin_url, name or website.",
        ));
    }
    let found = domain
        .as_deref()
        .and_then(|d| db.organization_by_domain(d))
        .or_else(|| {
            website
                .as_deref()
                .and_then(|w| db.organization_by_domain(w))
        })
        .or_else(|| {
            linkedin
                .as_deref()
                .and_then(|l| db.organization_by_linkedin(l))
        })
        .or_else(|| name.as_deref().and_then(|n| db.organization_by_name(n)));
    Ok(match found {
        Some(i) => {
            state.credits.charge(
                CreditKind::OrganizationEnrich,
                state.config.prices.organization_enrich,
            );
            json!({"organization": render::organization_full(db, &db.organizations[i])})
        }
        None => json!({"organization": null}),
    })
}

fn organization_by_id(state: &State, id: &str) -> Option<usize> {
    state.db.organizations.iter().position(|o| o.id == id)
}

/// `GET /organizations/{id}`: 1 credit when found, 404 otherwise.
pub fn show(state: &State, id: &str) -> Result<Value, ApiError> {
    let i = organization_by_id(state, id).ok_or(ApiError::NotFound)?;
    state.credits.charge(
        CreditKind::OrganizationEnrich,
        state.config.prices.organization_enrich,
    );
    Ok(json!({"organization": render::organization_full(&state.db, &state.db.organizations[i])}))
}

/// `POST /organizations/bulk_enrich`: up to 10 `domains`; 1 credit per company found.
pub fn bulk_enrich(state: &State, args: &Args) -> Result<Value, ApiError> {
    let domains = args.strings("domains")?;
    if domains.is_empty() {
        return Err(ApiError::Bulk {
            code: "INVALID_REQUEST",
            message: "invalid request, missing domains".into(),
        });
    }
    if domains.len() > 10 {
        return Err(ApiError::Bulk {
            code: "RECORD_LIMIT_EXCEEDED",
            message: "cannot enrich more than 10 in a single request".into(),
        });
    }
    let db = &state.db;
    let mut found = Vec::new();
    for d in &domains {
        if let Some(i) = db.organization_by_domain(d) {
            state.credits.charge(
                CreditKind::OrganizationEnrich,
                state.config.prices.organization_enrich,
            );
            found.push(render::organization_full(db, &db.organizations[i]));
        }
    }
    let missing = domains.len() - found.len();
    Ok(json!({
        "status": "success", "error_code": null, "error_message": null,
        "total_requested_domains": domains.len(), "unique_domains": domains.len(),
        "unique_enriched_records": found.len(), "missing_records": missing,
        "organizations": found,
    }))
}

/// A company's job postings, made up from its id so they are the same on every call.
fn postings(state: &State, i: usize) -> Vec<Value> {
    const TITLES: &[&str] = &[
        "Account Executive",
        "Senior Software Engineer",
        "Sales Development Representative",
        "Product Manager",
        "Customer Success Manager",
        "Data Analyst",
    ];
    let org = &state.db.organizations[i];
    let n = org.id.bytes().map(usize::from).sum::<usize>() % TITLES.len() + 1;
    (0..n)
        .map(|k| {
            json!({
                "id": format!("{}{k:02}", org.id.get(..22).unwrap_or(&org.id)),
                "title": TITLES[k], "url": format!("https://{}/careers/{k}", org.domain),
                "city": null, "state": null, "country": "United States",
                "last_seen_at": "2026-11-30T00:00:00.000+00:00",
                "posted_at": "2026-11-01T00:00:00.000+00:00",
            })
        })
        .collect()
}

/// `GET /organizations/{id}/job_postings`: 1 credit per page that holds postings.
pub fn job_postings(state: &State, id: &str, args: &Args) -> Result<Value, ApiError> {
    let i = organization_by_id(state, id).ok_or(ApiError::NotFound)?;
    charged_page(
        state,
        args,
        &postings(state, i),
        "organization_job_postings",
    )
}

/// `POST /news_articles/search`: `organization_ids[]` required; 1 credit per page.
pub fn news(state: &State, args: &Args) -> Result<Value, ApiError> {
    let ids = args.strings("organization_ids")?;
    if ids.is_empty() {
        return Err(ApiError::unprocessable("organization_ids is required"));
    }
    let mut all = Vec::new();
    for id in &ids {
        if let Some(i) = organization_by_id(state, id) {
            let org = &state.db.organizations[i];
            all.push(json!({
                "id": format!("n{}", org.id.get(1..).unwrap_or(&org.id)),
                "url": format!("https://news.example/{}", org.domain),
                "domain": "news.example", "title": format!("{} expands its sales team", org.name),
                "snippet": format!("{} is hiring across sales and engineering.", org.name),
                "published_at": "2026-11-20T00:00:00.000+00:00",
                "event_categories": ["hires"], "organization_id": org.id,
            }));
        }
    }
    charged_page(state, args, &all, "news_articles")
}

/// One page of `all` under `key`, charged like a page of company search when it holds
/// anything.
fn charged_page(state: &State, args: &Args, all: &[Value], key: &str) -> Result<Value, ApiError> {
    let paging = crate::paging::Paging::from_args(args)?;
    let page: Vec<Value> = all[paging.range(all.len())].to_vec();
    if !page.is_empty() {
        state.credits.charge(
            CreditKind::OrganizationSearch,
            state.config.prices.organization_search_page,
        );
    }
    let mut map = paging.envelope(all.len(), Vec::new());
    map.insert(key.into(), Value::Array(page));
    Ok(Value::Object(map))
}
