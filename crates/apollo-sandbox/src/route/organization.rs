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
