//! The rest of Apollo's team endpoints: views by id, bulk creates and updates, stages,
//! owners, lists, custom fields, email accounts, removing contacts from sequences, calls,
//! the key's own profile. Shapes follow Apollo's reference (see `docs/apollo-catalog.md`).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::contact::contact_answer;
use super::{Record, Table, Team, create_account, create_contact, id_arg, object, search_answer};
use super::{text, update_account, update_contact};
use crate::args::Args;
use crate::clock::format_time;
use crate::data::Database;
use crate::error::ApiError;

/// Apollo's bulk limit for creating or updating contacts and accounts.
pub(super) const BULK_LIMIT: usize = 100;

/// `GET /contacts/{id}`: `{contact, labels}`, or 404.
pub fn show_contact(team: &Team, id: &str) -> Result<Value, ApiError> {
    let contact = team.contacts.get(id).ok_or(ApiError::NotFound)?;
    Ok(contact_answer(team, contact))
}

/// `GET /accounts/{id}`.
pub fn show_account(team: &Team, id: &str) -> Result<Value, ApiError> {
    let account = team.accounts.get(id).ok_or(ApiError::NotFound)?;
    Ok(json!({"account": account}))
}

/// `GET /opportunities/{id}`.
pub fn show_deal(team: &Team, id: &str) -> Result<Value, ApiError> {
    let deal = team.deals.get(id).ok_or(ApiError::NotFound)?;
    Ok(json!({"opportunity": deal}))
}

fn bulk_items(args: &Args, key: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    let items = match args.get(key) {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        // A query string's `contacts[0][name]=` arrives as a hash.
        Some(Value::Object(map)) if !map.is_empty() => map.values().cloned().collect(),
        _ => return Err(ApiError::unprocessable(format!("{key} is required"))),
    };
    if items.len() > BULK_LIMIT {
        return Err(ApiError::unprocessable(format!(
            "You can only send up to {BULK_LIMIT} {key} at a time"
        )));
    }
    items
        .into_iter()
        .map(|i| match i {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::unprocessable(format!(
                "each of {key} must be an object"
            ))),
        })
        .collect()
}

/// `POST /contacts/bulk_create`: matched contacts (same email) come back unchanged under
/// `existing_contacts`; the rest are created.
pub fn bulk_create_contacts(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    bulk_create(
        team,
        args,
        "contacts",
        |t| &t.contacts,
        "email",
        |team, item| {
            let mut one = Args::from_map(item);
            one.insert("run_dedupe", json!(false));
            let answer = create_contact(team, db, &one, now)?;
            Ok(answer.get("contact").cloned().unwrap_or(Value::Null))
        },
    )
}

/// `POST /accounts/bulk_create`: an account with the same domain comes back unchanged.
pub fn bulk_create_accounts(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    bulk_create(
        team,
        args,
        "accounts",
        |t| &t.accounts,
        "domain",
        |team, item| {
            let answer = create_account(team, db, &Args::from_map(item), now)?;
            Ok(answer.get("account").cloned().unwrap_or(Value::Null))
        },
    )
}

/// A bulk create of `kind` ("contacts" or "accounts", kept in `table`): an item whose
/// `same` field matches a stored record (ignoring case) comes back as that record under `existing_KIND`; the
/// others are created one by one under `created_KIND`.
fn bulk_create(
    team: &mut Team,
    args: &Args,
    kind: &str,
    table: fn(&Team) -> &Table,
    same: &str,
    mut create: impl FnMut(&mut Team, Map<String, Value>) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let items = bulk_items(args, kind)?;
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for item in items {
        let wanted = item
            .get(same)
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        let found = wanted.as_deref().filter(|w| !w.is_empty()).and_then(|w| {
            table(team)
                .rows()
                .iter()
                .find(|r| text(r, same).eq_ignore_ascii_case(w))
                .cloned()
        });
        match found {
            Some(record) => existing.push(Value::Object(record)),
            None => created.push(create(team, item)?),
        }
    }
    let mut answer = Map::new();
    answer.insert(format!("created_{kind}"), Value::Array(created));
    answer.insert(format!("existing_{kind}"), Value::Array(existing));
    Ok(Value::Object(answer))
}

fn take_id(item: &mut Map<String, Value>) -> Result<String, ApiError> {
    match item.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(ApiError::unprocessable("each record needs an id")),
    }
}

/// The records of a bulk update: `attributes` (each with its `id`), or the same fields for
/// every id of `ids` (Apollo's reference documents both).
fn update_items(
    args: &Args,
    attributes: &str,
    ids: &str,
    limit: usize,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    if args.contains(attributes) {
        return bulk_items(args, attributes);
    }
    let ids_given = args.strings(ids)?;
    if ids_given.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "{attributes} or {ids} is required"
        )));
    }
    if ids_given.len() > limit {
        return Err(ApiError::unprocessable(format!(
            "You can only send up to {limit} {ids} at a time"
        )));
    }
    let mut common = args.clone().into_value();
    if let Value::Object(m) = &mut common {
        for key in [ids, "async", "visible_entity_ids"] {
            m.remove(key);
        }
    }
    let common = match common {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(ids_given
        .into_iter()
        .map(|id| {
            let mut item = common.clone();
            item.insert("id".into(), json!(id));
            item
        })
        .collect())
}

/// `POST /contacts/bulk_update`: `contact_attributes`, each with its `id`, or `contact_ids`
/// with the fields for all of them.
pub fn bulk_update_contacts(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for mut item in update_items(args, "contact_attributes", "contact_ids", BULK_LIMIT)? {
        let id = take_id(&mut item)?;
        let answer = update_contact(team, db, &id, &Args::from_map(item), now)?;
        out.push(answer.get("contact").cloned().unwrap_or(Value::Null));
    }
    Ok(json!({"contacts": out}))
}

/// `POST /accounts/bulk_update`: `account_attributes`, each with its `id`, or
/// `account_ids` (up to 1000) with the fields for all of them.
pub fn bulk_update_accounts(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for mut item in update_items(args, "account_attributes", "account_ids", 1000)? {
        let id = take_id(&mut item)?;
        let answer = update_account(team, db, &id, &Args::from_map(item), now)?;
        out.push(answer.get("account").cloned().unwrap_or(Value::Null));
    }
    Ok(json!({"accounts": out}))
}

/// Sets `field` to `value` on the records of `table` named by `ids`; unknown ids are
/// skipped, as Apollo does.
fn set_many(
    table: &mut Table,
    ids: &[String],
    field: &str,
    value: &str,
    now: OffsetDateTime,
) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(record) = table.get_mut(id) {
            record.insert(field.into(), json!(value));
            record.insert("updated_at".into(), json!(format_time(now)));
            out.push(Value::Object(record.clone()));
        }
    }
    out
}

/// `POST /contacts/update_stages`.
pub fn update_contact_stages(
    team: &mut Team,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let ids = args.strings("contact_ids")?;
    let Some(stage) = id_arg(args, "contact_stage_id")? else {
        return Err(ApiError::unprocessable("contact_stage_id is required"));
    };
    if ids.is_empty() {
        return Err(ApiError::unprocessable("contact_ids is required"));
    }
    if team.contact_stages.get(&stage).is_none() {
        return Err(ApiError::unprocessable("Contact stage does not exist."));
    }
    let contacts = set_many(&mut team.contacts, &ids, "contact_stage_id", &stage, now);
    Ok(json!({"contacts": contacts}))
}

/// `POST /contacts/update_owners` and `POST /accounts/update_owners`.
pub fn update_owners(
    team: &mut Team,
    args: &Args,
    accounts: bool,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let (key, answer) = if accounts {
        ("account_ids", "accounts")
    } else {
        ("contact_ids", "contacts")
    };
    let ids = args.strings(key)?;
    let Some(owner) = id_arg(args, "owner_id")? else {
        return Err(ApiError::unprocessable("owner_id is required"));
    };
    if ids.is_empty() {
        return Err(ApiError::unprocessable(format!("{key} is required")));
    }
    if team.users.get(&owner).is_none() {
        return Err(ApiError::unprocessable("Owner does not exist."));
    }
    let table = if accounts {
        &mut team.accounts
    } else {
        &mut team.contacts
    };
    let records = set_many(table, &ids, "owner_id", &owner, now);
    Ok(json!({answer: records}))
}

fn rows(table: &Table) -> Value {
    Value::Array(
        table
            .rows()
            .iter()
            .map(|r| Value::Object(r.clone()))
            .collect(),
    )
}

/// `GET /contact_stages`, `/account_stages`, `/opportunity_stages`, `/email_accounts`,
/// `/labels`, `/typed_custom_fields`: every record under the route's key, unpaged.
pub fn list(team: &Team, key: &str) -> Value {
    let table = match key {
        "contact_stages" => &team.contact_stages,
        "account_stages" => &team.account_stages,
        "opportunity_stages" => &team.opportunity_stages,
        "email_accounts" => &team.email_accounts,
        "labels" => &team.labels,
        _ => &team.custom_fields,
    };
    json!({key: rows(table)})
}

/// `POST /emailer_campaigns/remove_or_stop_contact_ids`.
pub fn remove_or_stop(
    team: &mut Team,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let campaigns = args.strings("emailer_campaign_ids")?;
    let contact_ids = args.strings("contact_ids")?;
    let mode = args.str("mode")?.unwrap_or_default();
    if campaigns.is_empty() || contact_ids.is_empty() {
        return Err(ApiError::unprocessable(
            "Please specify emailer_campaign_ids and contact_ids.",
        ));
    }
    if !matches!(mode.as_str(), "mark_as_finished" | "remove" | "stop") {
        return Err(ApiError::unprocessable(
            "mode must be one of mark_as_finished, remove or stop.",
        ));
    }
    let mut changed = Vec::new();
    for id in &contact_ids {
        let Some(contact) = team.contacts.get_mut(id) else {
            continue;
        };
        let statuses: Vec<Value> = contact
            .get("contact_campaign_statuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let in_campaign = |s: &Value| {
            s.get("emailer_campaign_id")
                .and_then(Value::as_str)
                .is_some_and(|c| campaigns.iter().any(|x| x == c))
        };
        let statuses: Vec<Value> = match mode.as_str() {
            "remove" => statuses.into_iter().filter(|s| !in_campaign(s)).collect(),
            _ => statuses
                .into_iter()
                .map(|mut s| {
                    if in_campaign(&s) {
                        let status = if mode == "stop" { "paused" } else { "finished" };
                        s["status"] = json!(status);
                        if mode == "mark_as_finished" {
                            s["finished_at"] = json!(format_time(now));
                        }
                    }
                    s
                })
                .collect(),
        };
        if mode == "remove" {
            let ids: Vec<Value> = contact
                .get("emailer_campaign_ids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|c| !c.as_str().is_some_and(|c| campaigns.iter().any(|x| x == c)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            contact.insert("emailer_campaign_ids".into(), Value::Array(ids));
        }
        contact.insert("contact_campaign_statuses".into(), Value::Array(statuses));
        contact.insert("updated_at".into(), json!(format_time(now)));
        changed.push(Value::Object(contact.clone()));
    }
    let sequences: Vec<Value> = campaigns
        .iter()
        .filter_map(|c| team.sequences.get(c))
        .map(|s| Value::Object(s.clone()))
        .collect();
    Ok(json!({"contacts": changed, "emailer_campaigns": sequences}))
}

const CALL_STATUSES: &[&str] = &[
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "no_answer",
    "failed",
    "busy",
];

fn apply_call_fields(call: &mut Record, args: &Args, now: OffsetDateTime) -> Result<(), ApiError> {
    if let Some(status) = args.str("status")? {
        if !CALL_STATUSES.contains(&status.as_str()) {
            return Err(ApiError::unprocessable(format!(
                "status is not valid: {status}"
            )));
        }
        call.insert("status".into(), json!(status));
    }
    for key in [
        "contact_id",
        "account_id",
        "phone_call_purpose_id",
        "phone_call_outcome_id",
    ] {
        if let Some(id) = id_arg(args, key)? {
            call.insert(key.into(), json!(id));
        }
    }
    for key in ["to_number", "from_number", "start_time", "end_time", "note"] {
        if let Some(v) = args.str(key)? {
            call.insert(key.into(), json!(v));
        }
    }
    if args.contains("duration") {
        let d = args
            .number("duration")
            .map_err(|_| ApiError::unprocessable("duration must be a number of seconds"))?;
        call.insert("duration".into(), json!(d));
    }
    if args.contains("user_id") {
        call.insert("user_id".into(), json!(args.strings("user_id")?));
    }
    call.insert("updated_at".into(), json!(format_time(now)));
    Ok(())
}

/// `POST /phone_calls`: logs a call (it dials nobody).
pub fn create_call(team: &mut Team, args: &Args, now: OffsetDateTime) -> Result<Value, ApiError> {
    let id = team.new_id();
    let mut call = object(json!({
        "id": id, "status": "completed", "contact_id": null, "account_id": null,
        "user_id": [team.first_user_id()], "to_number": null, "from_number": null,
        "start_time": null, "end_time": null, "duration": null, "note": null,
        "phone_call_purpose_id": null, "phone_call_outcome_id": null,
        "logged": args.flag("logged")?, "created_at": format_time(now),
        "updated_at": format_time(now),
    }));
    apply_call_fields(&mut call, args, now)?;
    team.calls.insert(call.clone());
    Ok(json!({"phone_call": call}))
}

/// `PUT /phone_calls/{id}`.
pub fn update_call(
    team: &mut Team,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(mut call) = team.calls.get(id).cloned() else {
        return Err(ApiError::NotFound);
    };
    apply_call_fields(&mut call, args, now)?;
    if let Some(slot) = team.calls.get_mut(id) {
        *slot = call.clone();
    }
    Ok(json!({"phone_call": call}))
}

/// `GET|POST /phone_calls/search`: envelope + `phone_calls`.
pub fn search_calls(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let rows: Vec<&Record> = team.calls.rows().iter().collect();
    search_answer(args, "phone_calls", rows, |_| {})
}

/// `GET /users/api_profile`: the key's user, with credit usage when asked.
pub fn api_profile(team: &Team, args: &Args, credits_used: f64) -> Result<Value, ApiError> {
    let mut user = team.users.rows().first().cloned().unwrap_or_default();
    if args.flag("include_credit_usage")? {
        user.insert(
            "credit_usage".into(),
            json!({"consumed": credits_used, "team_consumed": credits_used}),
        );
    }
    Ok(json!({"user": user}))
}
