//! Credit prices, in one table that can be configured (exact prices depend on the plan),
//! and the most a call could cost.
//!
//! The gateway reserves [`PriceTable::max_cost`] from the agent's budget before it
//! forwards a call, then settles to the real cost from Apollo's answer: bulk enrichment
//! reports `credits_consumed` (round fractions up); a single enrichment costs
//! `match_person` when `person` is not null, plus `mobile_phone` when phone numbers were
//! asked for and the person matched, plus the email reveal and waterfall prices when
//! those were asked; an organization search costs one page when it answered 200; an
//! organization enrichment when `organization` is not null. A call that failed (no 2xx)
//! settles to 0. When Apollo's answer says what it billed (`credits_consumed`), that is what
//! the call cost, even above the reservation: a plan's prices can differ from the table. The
//! gateway then records the excess and learns the higher price for later reservations.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::args::Args;
use crate::catalog::{Action, Price, Shape};

/// Credits per priced unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceTable {
    /// A matched person (single or bulk enrichment).
    pub match_person: u64,
    /// A mobile number returned (phone reveal).
    pub mobile_phone: u64,
    /// Personal emails revealed.
    pub personal_emails: u64,
    /// Waterfall enrichment for an email.
    pub waterfall_email: u64,
    /// Waterfall enrichment for a phone.
    pub waterfall_phone: u64,
    /// One page of organization search results.
    pub organization_search_page: u64,
    /// One organization enrichment.
    pub organization_enrich: u64,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable {
            match_person: 1,
            mobile_phone: 8,
            personal_emails: 1,
            waterfall_email: 1,
            waterfall_phone: 8,
            organization_search_page: 1,
            organization_enrich: 1,
        }
    }
}

impl PriceTable {
    /// What enriching one person could cost with the flags `args` carries (strictest
    /// reading, as the policy reads them).
    pub fn per_person(&self, args: &Args) -> u64 {
        let mut cost = self.match_person;
        for (flag, price) in [
            ("reveal_phone_number", self.mobile_phone),
            ("reveal_personal_emails", self.personal_emails),
            ("run_waterfall_email", self.waterfall_email),
            ("run_waterfall_phone", self.waterfall_phone),
        ] {
            if args.flag(flag) {
                cost = cost.saturating_add(price);
            }
        }
        cost
    }

    /// The most the call could cost: what the gateway reserves from the budget before
    /// forwarding. Bulk enrichment of 10 with phone reveal: 10 x (1 + 8) = 90.
    pub fn max_cost(&self, action: &Action, args: &Args) -> u64 {
        match action.price {
            Price::Free => 0,
            Price::Person => self.per_person(args),
            Price::PeopleBulk => {
                let people = match args.value().get("details") {
                    Some(Value::Array(items)) => items.len(),
                    Some(Value::Object(m)) => m.len(),
                    // Validation refuses this; reserve for the most Apollo would take.
                    _ => 10,
                };
                self.per_person(args)
                    .saturating_mul(u64::try_from(people).unwrap_or(u64::MAX))
            }
            Price::OrganizationPage => self.organization_search_page,
            Price::OrganizationEnrich => self.organization_enrich,
            Price::Conversation => 1,
            Price::OrganizationsBulk => {
                // Validation refuses more than 10; reserve for the most Apollo would take.
                let domains = match args.list("domains").len() {
                    0 => 10,
                    n => n,
                };
                self.organization_enrich
                    .saturating_mul(u64::try_from(domains).unwrap_or(u64::MAX))
            }
        }
    }

    /// What a call really cost, read from Apollo's answer (`status` and its parsed `body`):
    /// what Apollo says it billed when the answer says so ([`PriceTable::billed`]), otherwise
    /// the table's price for that answer. A failed call, or one whose answer is not JSON,
    /// costs nothing.
    pub fn actual_cost(
        &self,
        action: &Action,
        args: &Args,
        status: u16,
        body: Option<&Value>,
    ) -> f64 {
        match action.price {
            Price::Free => 0.0,
            _ => Self::billed(status, body)
                .unwrap_or_else(|| self.table_cost(action, args, status, body)),
        }
    }

    /// What Apollo says a successful call billed: a non-negative `credits_consumed` at the top
    /// of its answer (bulk enrichment reports it), up to [`MAX_PLAUSIBLE_BILL`]. A figure past
    /// that is no bill (the table's price stands): counted, it overflowed the ledger's
    /// integers and jammed the agent's accounting (found in review).
    pub fn billed(status: u16, body: Option<&Value>) -> Option<f64> {
        body.filter(|_| (200..300).contains(&status))?
            .get("credits_consumed")
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && (0.0..=MAX_PLAUSIBLE_BILL).contains(c))
    }

    /// What the price table says the answer cost, whatever Apollo billed: the figure a bill
    /// is compared with to learn a plan's real prices.
    pub fn table_cost(
        &self,
        action: &Action,
        args: &Args,
        status: u16,
        body: Option<&Value>,
    ) -> f64 {
        let Some(body) = body.filter(|_| (200..300).contains(&status)) else {
            return 0.0;
        };
        let present = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
        match action.price {
            Price::Free => 0.0,
            Price::Person if present("person") => {
                let mut cost = self.per_person(args);
                // Apollo charges for personal emails only when it finds some (#19 item 5): an
                // answer that shows none for the person costs the flag nothing. Unknown (the
                // field absent) is charged, as reserved.
                let none_found = body
                    .pointer("/person/personal_emails")
                    .is_some_and(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty));
                if args.flag("reveal_personal_emails") && none_found {
                    cost = cost.saturating_sub(self.personal_emails);
                }
                cost as f64
            }
            Price::Person => 0.0,
            Price::PeopleBulk => {
                let matched = body
                    .get("matches")
                    .and_then(Value::as_array)
                    .map_or(0, |m| m.iter().filter(|p| !p.is_null()).count());
                (matched as u64).saturating_mul(self.per_person(args)) as f64
            }
            Price::OrganizationPage => {
                // A page of companies, job postings or news: charged when it holds any.
                let key = match action.shape {
                    Shape::List { key, .. } => key,
                    _ => "organizations",
                };
                let any = body
                    .get(key)
                    .and_then(Value::as_array)
                    .is_some_and(|o| !o.is_empty());
                if any {
                    self.organization_search_page as f64
                } else {
                    0.0
                }
            }
            Price::OrganizationEnrich if present("organization") => self.organization_enrich as f64,
            Price::Conversation if present("id") => 1.0,
            Price::Conversation => 0.0,
            Price::OrganizationEnrich => 0.0,
            Price::OrganizationsBulk => {
                let found = body
                    .get("organizations")
                    .and_then(Value::as_array)
                    .map_or(0, |o| o.iter().filter(|v| !v.is_null()).count());
                (found as u64).saturating_mul(self.organization_enrich) as f64
            }
        }
    }
}

/// The most credits one call can plausibly bill: a bulk enrichment of ten people with every
/// reveal costs tens of credits, and no plan holds a million.
pub const MAX_PLAUSIBLE_BILL: f64 = 1_000_000.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_is_taken_only_within_reason() {
        let bill =
            |v: Value| PriceTable::billed(200, Some(&serde_json::json!({"credits_consumed": v})));
        assert_eq!(bill(serde_json::json!(3)), Some(3.0));
        assert_eq!(bill(serde_json::json!(0)), Some(0.0));
        assert_eq!(bill(serde_json::json!(1e300)), None);
        assert_eq!(bill(serde_json::json!(-1)), None);
        assert_eq!(bill(serde_json::json!("3")), None);
        assert_eq!(
            PriceTable::billed(500, Some(&serde_json::json!({"credits_consumed": 3}))),
            None
        );
    }
    use crate::{by_id, catalog, read_args};

    fn cost(id: &str, body: &str) -> u64 {
        let args = read_args(None, Some("application/json"), body.as_bytes()).unwrap();
        PriceTable::default().max_cost(by_id(id).unwrap(), &args)
    }

    #[test]
    fn bulk_of_ten_with_phone_reveal_costs_ninety() {
        let details = [r#"{"email":"a@b.c"}"#; 10].join(",");
        assert_eq!(
            cost(
                "people.bulk_enrich",
                &format!(
                    r#"{{"details":[{details}],"reveal_phone_number":true,"webhook_url":"https://x"}}"#
                )
            ),
            90
        );
        assert_eq!(
            cost(
                "people.bulk_enrich",
                &format!(r#"{{"details":[{details}]}}"#)
            ),
            10
        );
    }

    #[test]
    fn a_personal_email_reveal_that_found_none_costs_nothing_for_it() {
        let args = read_args(
            None,
            Some("application/json"),
            br#"{"email":"a@b.c","reveal_personal_emails":true}"#,
        )
        .unwrap();
        let action = by_id("people.enrich").unwrap();
        let spent = |answer: serde_json::Value| {
            PriceTable::default().actual_cost(action, &args, 200, Some(&answer))
        };
        assert_eq!(
            spent(serde_json::json!({"person": {"personal_emails": []}})),
            1.0
        );
        assert_eq!(
            spent(serde_json::json!({"person": {"personal_emails": null}})),
            1.0
        );
        assert_eq!(
            spent(serde_json::json!({"person": {"personal_emails": ["me@gmail.com"]}})),
            2.0
        );
        // The outline of a scanned answer stands a non-empty list as `true`.
        assert_eq!(
            spent(serde_json::json!({"person": {"personal_emails": true}})),
            2.0
        );
        // Not said either way: charged as reserved.
        assert_eq!(spent(serde_json::json!({"person": {"id": "p"}})), 2.0);
        assert_eq!(spent(serde_json::json!({"person": null})), 0.0);
    }

    #[test]
    fn single_enrichment_adds_what_it_asks_for() {
        assert_eq!(cost("people.enrich", r#"{"email":"a@b.c"}"#), 1);
        assert_eq!(
            cost("people.enrich", r#"{"reveal_phone_number":"true"}"#),
            9
        );
        assert_eq!(
            cost(
                "people.enrich",
                r#"{"reveal_phone_number":1,"reveal_personal_emails":true,"run_waterfall_email":true,"run_waterfall_phone":true}"#
            ),
            19
        );
        assert_eq!(cost("people.enrich", r#"{"Reveal_Phone_Number":"yes"}"#), 9);
    }

    #[test]
    fn free_actions_cost_nothing_and_companies_cost_one() {
        for a in catalog() {
            let c = cost(a.id.as_str(), "{}");
            assert_eq!(c > 0, a.spends_credits(), "{}", a.id);
        }
        assert_eq!(cost("organizations.search", r#"{"per_page":100}"#), 1);
        assert_eq!(cost("organizations.enrich", r#"{"domain":"acme.com"}"#), 1);
    }

    #[test]
    fn price_table_is_configurable_and_serde_stable() {
        let t: PriceTable = serde_json::from_str(r#"{"mobile_phone": 5}"#).unwrap();
        assert_eq!(t.mobile_phone, 5);
        assert_eq!(t.match_person, 1);
        assert!(serde_json::from_str::<PriceTable>(r#"{"mobile": 5}"#).is_err());
        let json = serde_json::to_string(&PriceTable::default()).unwrap();
        assert_eq!(
            json,
            r#"{"match_person":1,"mobile_phone":8,"personal_emails":1,"waterfall_email":1,"waterfall_phone":8,"organization_search_page":1,"organization_enrich":1}"#
        );
    }
}
