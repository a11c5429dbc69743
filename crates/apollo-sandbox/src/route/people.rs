//! People search and enrichment (`mixed_people/api_search`, `people/match`,
//! `people/bulk_match`), with credits, reveals and webhooks.

use std::collections::HashSet;

use reqwest::Url;
use serde_json::{Map, Value, json};

use super::{Reply, splice};
use crate::args::Args;
use crate::credit::CreditKind;
use crate::data::{PeopleQuery, render};
use crate::error::ApiError;
use crate::paging::Paging;
use crate::state::State;
use crate::webhook::loopback_url;

/// Most records a bulk call may enrich.
const BULK_LIMIT: usize = 10;

/// `mixed_people/api_search`: free, partial records, nothing private.
pub fn search(state: &State, args: &Args) -> Result<Reply, ApiError> {
    let query = PeopleQuery::from_args(args)?;
    let paging = Paging::from_args(args)?;
    let page = state.db.search_people(&query, paging);
    let mut envelope = Map::new();
    envelope.insert("total_entries".into(), json!(page.total));
    envelope.insert("pagination".into(), paging.pagination(page.total));
    Ok(Reply::Raw(splice(
        envelope,
        "people",
        &state.db.people_json(&page.items),
    )))
}

/// The reveal and waterfall flags of an enrichment call.
#[derive(Debug)]
struct Flags {
    personal_emails: bool,
    phone: bool,
    waterfall_email: bool,
    waterfall_phone: bool,
    webhook: Option<Url>,
}

impl Flags {
    fn from_args(args: &Args) -> Result<Self, ApiError> {
        let phone = args.flag("reveal_phone_number")?;
        let waterfall_email = args.flag("run_waterfall_email")?;
        let waterfall_phone = args.flag("run_waterfall_phone")?;
        let needs = [
            (phone, "reveal_phone_number"),
            (waterfall_email, "run_waterfall_email"),
            (waterfall_phone, "run_waterfall_phone"),
        ];
        let webhook = match needs.iter().find(|(on, _)| *on) {
            None => None,
            Some((_, flag)) => match args.str("webhook_url")? {
                None => {
                    return Err(ApiError::unprocessable(format!(
                        "Please add a valid 'webhook_url' parameter when using '{flag}'"
                    )));
                }
                Some(url) => Some(loopback_url(&url)?),
            },
        };
        Ok(Self {
            personal_emails: args.flag("reveal_personal_emails")?,
            phone,
            waterfall_email,
            waterfall_phone,
            webhook,
        })
    }

    fn waterfall(&self) -> bool {
        self.waterfall_email || self.waterfall_phone
    }

    /// The `request_type` of the webhook result.
    fn result_kind(&self) -> &'static str {
        if self.waterfall() {
            "waterfall"
        } else {
            "phone"
        }
    }
}

/// Whether `args` carries any identifier enrichment can match on.
fn has_identifier(args: &Args) -> Result<bool, ApiError> {
    for key in [
        "id",
        "email",
        "hashed_email",
        "linkedin_url",
        "name",
        "first_name",
        "last_name",
    ] {
        if args.str(key)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Finds the person the identifiers describe, the strongest identifier first.
fn identify(state: &State, args: &Args) -> Result<Option<usize>, ApiError> {
    let db = &state.db;
    if let Some(id) = args.str("id")? {
        return Ok(db.person_by_id(id.trim()));
    }
    if let Some(email) = args.str("email")?
        && let Some(i) = db.person_by_email(&email)
    {
        return Ok(Some(i));
    }
    if let Some(hash) = args.str("hashed_email")?
        && let Some(i) = db.person_by_hashed_email(&hash)
    {
        return Ok(Some(i));
    }
    if let Some(url) = args.str("linkedin_url")?
        && let Some(i) = db.person_by_linkedin(&url)
    {
        return Ok(Some(i));
    }
    let name = match (
        args.str("name")?,
        args.str("first_name")?,
        args.str("last_name")?,
    ) {
        (Some(name), _, _) => name,
        (None, Some(first), Some(last)) => format!("{first} {last}"),
        _ => return Ok(None),
    };
    let candidates = db.people_named(&name);
    let org_name = args.str("organization_name")?.map(|n| n.to_lowercase());
    let domain = args
        .str("domain")?
        .map(|d| crate::data::normalize_domain(&d));
    if org_name.is_none() && domain.is_none() {
        // A bare name matches only when it is unambiguous.
        return Ok(match candidates {
            [only] => Some(*only),
            _ => None,
        });
    }
    Ok(candidates.iter().copied().find(|i| {
        let org = &db.organizations[db.people[*i].organization];
        org_name
            .as_ref()
            .is_none_or(|n| org.name.to_lowercase() == *n)
            && domain.as_ref().is_none_or(|d| org.domain == *d)
    }))
}

/// Renders one matched person, charges credits, records reveals and queues webhooks.
/// Returns the person and the credits this person cost.
fn enrich_one(
    state: &State,
    index: usize,
    flags: &Flags,
    request_id: &str,
    bulk: bool,
) -> (Value, f64, Option<Value>) {
    let prices = state.config.prices;
    let person = &state.db.people[index];
    let (had_emails, had_phone) = {
        let mut revealed = state.revealed();
        let before = (
            revealed.personal_emails.contains(&index),
            revealed.phone_numbers.contains(&index),
        );
        if flags.personal_emails {
            revealed.personal_emails.insert(index);
        }
        if flags.phone {
            revealed.phone_numbers.insert(index);
        }
        before
    };
    // Apollo returns what the team already revealed even when this call did not ask.
    let reveal = render::Reveal {
        personal_emails: flags.personal_emails || had_emails,
        phone_numbers: had_phone,
        revealed_for_team: had_emails || had_phone || flags.personal_emails || flags.phone,
    };
    let value = render::person_full(&state.db, index, reveal);
    let mut cost = prices.person_match;
    state
        .credits
        .charge(CreditKind::PersonMatch, prices.person_match);
    if flags.personal_emails && !person.personal_emails.is_empty() {
        cost += prices.personal_emails;
        state
            .credits
            .charge(CreditKind::PersonalEmails, prices.personal_emails);
    }
    if flags.phone && person.mobile.is_some() {
        cost += prices.mobile_phone;
        state
            .credits
            .charge(CreditKind::MobilePhone, prices.mobile_phone);
    }
    for (on, price) in [
        (flags.waterfall_email, prices.waterfall_email),
        (flags.waterfall_phone, prices.waterfall_phone),
    ] {
        if on {
            cost += price;
            state.credits.charge(CreditKind::Waterfall, price);
        }
    }
    let mut delivery = None;
    if flags.phone || flags.waterfall() {
        let mut full = render::person_full(
            &state.db,
            index,
            render::Reveal {
                phone_numbers: flags.phone || flags.waterfall_phone,
                ..reveal
            },
        );
        if flags.waterfall_email {
            full["waterfall_emails"] = json!(person.email.iter().map(|e| json!({"email": e, "email_status": person.email_status, "source": "waterfall"})).collect::<Vec<_>>());
        }
        if !bulk && let Some(url) = &flags.webhook {
            let payload = json!({"status": "success", "request_id": request_id, "person": full, "people": [full]});
            state.keep_result(request_id, flags.result_kind(), payload.clone());
            state.webhooks.send(url.clone(), payload);
        }
        delivery = Some(full);
    }
    (value, cost, delivery)
}

fn waterfall_note(flags: &Flags) -> Option<Value> {
    flags.waterfall().then(|| {
        json!({"status": "accepted", "message": "Waterfall enrichment has started; results will be delivered to your webhook_url."})
    })
}

/// `people/match`. No match: 200 with `person: null`, no credit.
pub fn enrich(state: &State, args: &Args) -> Result<Value, ApiError> {
    let flags = Flags::from_args(args)?;
    if !has_identifier(args)? {
        return Err(ApiError::unprocessable(
            "Please provide at least one identifier: id, email, hashed_email, linkedin_url, or a name with organization_name or domain.",
        ));
    }
    let request_id = state.request_id();
    let person = match identify(state, args)? {
        Some(index) => enrich_one(state, index, &flags, &request_id, false).0,
        None => Value::Null,
    };
    let mut answer = json!({"person": person, "request_id": request_id});
    if let Some(note) = waterfall_note(&flags) {
        answer["waterfall"] = note;
    }
    Ok(answer)
}

/// `people/bulk_match`: up to ten `details`, flags for the whole call.
pub fn bulk_enrich(state: &State, args: &Args) -> Result<Value, ApiError> {
    let details = match args.get("details") {
        None => {
            return Err(bulk_error(
                "INVALID_REQUEST",
                "invalid request, missing details",
            ));
        }
        Some(Value::Array(items)) => items.clone(),
        // `details[][email]=` in a query string arrives as an array; `details[0][email]=` as a hash.
        Some(Value::Object(map)) => map.values().cloned().collect(),
        Some(_) => {
            return Err(bulk_error(
                "INVALID_REQUEST",
                "invalid request, details must be an array",
            ));
        }
    };
    if details.is_empty() {
        return Err(bulk_error(
            "INVALID_REQUEST",
            "invalid request, missing details",
        ));
    }
    if details.len() > BULK_LIMIT {
        return Err(bulk_error(
            "RECORD_LIMIT_EXCEEDED",
            "cannot enrich more than 10 in a single request",
        ));
    }
    let flags = Flags::from_args(args)?;
    let request_id = state.request_id();
    let mut matches = Vec::with_capacity(details.len());
    let mut credits = 0.0;
    let mut seen = HashSet::new();
    let mut deliveries = Vec::new();
    for detail in details {
        let Value::Object(map) = detail else {
            return Err(bulk_error(
                "INVALID_REQUEST",
                "invalid request, each detail must be an object",
            ));
        };
        match identify(state, &Args::from_map(map))? {
            Some(index) => {
                let (person, cost, delivery) = enrich_one(state, index, &flags, &request_id, true);
                credits += cost;
                seen.insert(index);
                deliveries.extend(delivery);
                matches.push(person);
            }
            None => matches.push(Value::Null),
        }
    }
    if let Some(url) = &flags.webhook
        && !deliveries.is_empty()
    {
        let payload = json!({"status": "success", "request_id": request_id, "people": deliveries});
        state.keep_result(&request_id, flags.result_kind(), payload.clone());
        state.webhooks.send(url.clone(), payload);
    }
    let missing = matches.iter().filter(|m| m.is_null()).count();
    let mut answer = json!({
        "status": "success",
        "error_code": null,
        "error_message": null,
        "total_requested_enrichments": matches.len(),
        "unique_enriched_records": seen.len(),
        "missing_records": missing,
        "credits_consumed": credits,
        "matches": matches,
        "request_id": request_id,
    });
    if let Some(note) = waterfall_note(&flags) {
        answer["waterfall"] = note;
    }
    Ok(answer)
}

fn bulk_error(code: &'static str, message: &str) -> ApiError {
    ApiError::Bulk {
        code,
        message: message.to_owned(),
    }
}

/// `GET /people/{id}`: a person's complete record; 1 credit when found, 404 otherwise.
pub fn show(state: &State, id: &str) -> Result<Value, ApiError> {
    let index = state.db.person_by_id(id).ok_or(ApiError::NotFound)?;
    let flags = Flags::from_args(&Args::default())?;
    let request_id = state.request_id();
    let (person, _, _) = enrich_one(state, index, &flags, &request_id, false);
    Ok(json!({"person": person}))
}

/// `GET /webhook_result/{request_id}`: what the webhook of an enrichment carried, for 30
/// days. A request id is an integer; one Apollo never gave is 404 `request_id_unknown`.
pub fn webhook_result(state: &State, request_id: &str) -> Result<Value, ApiError> {
    if request_id.is_empty() || !request_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Coded {
            status: 400,
            code: "invalid_request_id",
        });
    }
    let Some((kind, at, payload)) = state.result(request_id) else {
        return Err(ApiError::Coded {
            status: 404,
            code: "request_id_unknown",
        });
    };
    Ok(
        json!({"request_id": request_id, "webhook_status": "success", "request_type": kind,
              "last_dispatched_at": at, "failure_reason": null, "webhook_result": payload}),
    )
}
