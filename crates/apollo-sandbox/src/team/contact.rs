//! Contacts and accounts: create (contacts with `run_dedupe`), update, search.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Record, Team, id_arg, object, search_answer, sort_field, sort_records, text};
use crate::args::Args;
use crate::clock::format_time;
use crate::data::Database;
use crate::error::ApiError;

/// Plain string fields a contact takes as they come.
const CONTACT_TEXT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "organization_name",
    "title",
    "email",
    "website_url",
    "present_raw_address",
    "linkedin_url",
];
/// Phone arguments and the type Apollo gives each number.
const PHONE_FIELDS: &[(&str, &str)] = &[
    ("direct_phone", "work_direct"),
    ("corporate_phone", "work_hq"),
    ("mobile_phone", "mobile"),
    ("home_phone", "home"),
    ("other_phone", "other"),
];

fn sanitize_phone(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if raw.trim_start().starts_with('+') {
        format!("+{digits}")
    } else {
        format!("+1{digits}")
    }
}

/// Writes the contact fields present in `args` onto `contact`.
fn apply_contact_fields(
    team: &mut Team,
    db: &Database,
    contact: &mut Record,
    args: &Args,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    for field in CONTACT_TEXT_FIELDS {
        if let Some(value) = args.str(field)? {
            contact.insert((*field).into(), json!(value));
        }
    }
    if let Some(email) = args.str("email")? {
        let email = email.trim().to_lowercase();
        let status = db
            .person_by_email(&email)
            .map_or("verified", |i| db.people[i].email_status);
        contact.insert("email".into(), json!(email));
        contact.insert("email_status".into(), json!(status));
    }
    for key in ["account_id", "contact_stage_id", "owner_id"] {
        if let Some(id) = id_arg(args, key)? {
            contact.insert(key.into(), json!(id));
        }
    }
    if let Some(account_id) = contact.get("account_id").and_then(Value::as_str)
        && let Some(account) = team.accounts.get(account_id)
    {
        let name = text(account, "name").to_owned();
        if !name.is_empty() && !contact.contains_key("organization_name") {
            contact.insert("organization_name".into(), json!(name));
        }
    }
    if args.contains("label_names") {
        let names = args.strings("label_names")?;
        contact.insert(
            "label_ids".into(),
            json!(team.label_ids(&names, "contacts", now)),
        );
    }
    if let Some(fields) = args.object("typed_custom_fields")? {
        contact.insert("typed_custom_fields".into(), Value::Object(fields));
    }
    let mut phones: Vec<Value> = contact
        .get("phone_numbers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (key, kind) in PHONE_FIELDS {
        if let Some(raw) = args.str(key)? {
            phones.retain(|p| p.get("type").and_then(Value::as_str) != Some(kind));
            phones.push(json!({
                "raw_number": raw, "sanitized_number": sanitize_phone(&raw), "type": kind,
                "position": phones.len(), "status": "no_status", "dnc_status": null,
            }));
            contact.insert((*key).into(), json!(raw));
        }
    }
    // Apollo's contacts also carry their first number, sanitized, as `sanitized_phone`, and
    // their addresses as `contact_emails`: more places a gateway must redact.
    let first = phones
        .first()
        .and_then(|p| p.get("sanitized_number"))
        .cloned()
        .unwrap_or(Value::Null);
    contact.insert("sanitized_phone".into(), first);
    contact.insert("phone_numbers".into(), Value::Array(phones));
    let emails: Vec<Value> = contact
        .get("email")
        .and_then(Value::as_str)
        .map(|e| {
            let free = e.ends_with("@gmail.com") || e.ends_with("@yahoo.com");
            json!({"email": e, "email_status": contact.get("email_status"), "free_domain": free, "position": 0})
        })
        .into_iter()
        .collect();
    contact.insert("contact_emails".into(), Value::Array(emails));
    let first = text(contact, "first_name").to_owned();
    let last = text(contact, "last_name").to_owned();
    contact.insert("name".into(), json!(format!("{first} {last}").trim()));
    let org = contact
        .get("email")
        .and_then(Value::as_str)
        .and_then(|e| e.split_once('@'))
        .and_then(|(_, domain)| db.organization_by_domain(domain))
        .or_else(|| db.organization_by_name(text(contact, "organization_name")));
    contact.insert(
        "organization_id".into(),
        json!(org.map(|i| db.organizations[i].id.clone())),
    );
    contact.insert("updated_at".into(), json!(format_time(now)));
    Ok(())
}

pub(super) fn contact_answer(team: &Team, contact: &Record) -> Value {
    let labels = team.labels_json(contact.get("label_ids").unwrap_or(&Value::Null));
    json!({"contact": contact, "labels": labels})
}

/// Finds the contact `run_dedupe` would update: same email, else same name and company.
fn find_duplicate(team: &Team, args: &Args) -> Result<Option<(String, &'static str)>, ApiError> {
    if let Some(email) = args.str("email")? {
        let email = email.trim().to_lowercase();
        if let Some(c) = team
            .contacts
            .rows()
            .iter()
            .find(|c| text(c, "email") == email)
        {
            return Ok(Some((text(c, "id").to_owned(), "email")));
        }
    }
    let (first, last, company) = (
        args.str("first_name")?,
        args.str("last_name")?,
        args.str("organization_name")?,
    );
    if let (Some(first), Some(last), Some(company)) = (first, last, company) {
        let same = |c: &&Record| {
            text(c, "first_name").eq_ignore_ascii_case(&first)
                && text(c, "last_name").eq_ignore_ascii_case(&last)
                && text(c, "organization_name").eq_ignore_ascii_case(&company)
        };
        if let Some(c) = team.contacts.rows().iter().find(same) {
            return Ok(Some((text(c, "id").to_owned(), "name_and_company")));
        }
    }
    Ok(None)
}

/// `POST /contacts`. Without `run_dedupe` a duplicate is always created.
pub fn create_contact(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let dedupe = args.flag("run_dedupe")?;
    if dedupe && let Some((id, reason)) = find_duplicate(team, args)? {
        let mut contact = team.contacts.get(&id).cloned().unwrap_or_default();
        apply_contact_fields(team, db, &mut contact, args, now)?;
        if let Some(slot) = team.contacts.get_mut(&id) {
            *slot = contact.clone();
        }
        let mut answer = contact_answer(team, &contact);
        answer["contact"]["dedupe_result"] =
            json!({"found_existing": true, "match_reason": reason, "existing_contact_id": id});
        return Ok(answer);
    }
    let id = team.new_id();
    let mut contact = object(json!({
        "id": id, "first_name": null, "last_name": null, "name": "", "title": null,
        "organization_name": null, "email": null, "email_status": null,
        "owner_id": team.first_user_id(), "account_id": null, "organization_id": null,
        "contact_stage_id": null, "source": "api", "original_source": "api", "label_ids": [],
        "emailer_campaign_ids": [], "contact_campaign_statuses": [], "phone_numbers": [],
        "sanitized_phone": null, "contact_emails": [],
        "typed_custom_fields": {}, "present_raw_address": null, "linkedin_url": null,
        "last_activity_date": null, "email_last_opened_at": null, "email_last_clicked_at": null,
        "created_at": format_time(now), "updated_at": format_time(now),
    }));
    apply_contact_fields(team, db, &mut contact, args, now)?;
    team.contacts.insert(contact.clone());
    let mut answer = contact_answer(team, &contact);
    if dedupe {
        answer["contact"]["dedupe_result"] =
            json!({"found_existing": false, "match_reason": null, "existing_contact_id": null});
    }
    Ok(answer)
}

/// `PATCH /contacts/{id}`. `label_names` replaces the contact's labels.
pub fn update_contact(
    team: &mut Team,
    db: &Database,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(mut contact) = team.contacts.get(id).cloned() else {
        return Err(ApiError::unprocessable("Contact does not exist."));
    };
    apply_contact_fields(team, db, &mut contact, args, now)?;
    if let Some(slot) = team.contacts.get_mut(id) {
        *slot = contact.clone();
    }
    Ok(contact_answer(team, &contact))
}

/// `POST /contacts/search`: the team's own contacts only.
pub fn search_contacts(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let sort = sort_field(
        args,
        &[
            "contact_last_activity_date",
            "contact_email_last_opened_at",
            "contact_email_last_clicked_at",
            "contact_created_at",
            "contact_updated_at",
        ],
    )?;
    let ascending = args.flag("sort_ascending")?;
    let keywords: Vec<String> = args
        .str("q_keywords")?
        .map(|k| {
            k.to_lowercase()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let stages = args.strings("contact_stage_ids")?;
    let labels = args.strings("contact_label_ids")?;
    let mut rows: Vec<&Record> = team
        .contacts
        .rows()
        .iter()
        .filter(|c| {
            let hay = ["name", "email", "organization_name", "title"]
                .iter()
                .map(|k| text(c, k).to_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            keywords.iter().all(|k| hay.contains(k.as_str()))
                && (stages.is_empty() || stages.iter().any(|s| s == text(c, "contact_stage_id")))
                && (labels.is_empty() || has_any_label(c, &labels))
        })
        .collect();
    let key = match sort.unwrap_or("contact_created_at") {
        "contact_last_activity_date" => "last_activity_date",
        "contact_email_last_opened_at" => "email_last_opened_at",
        "contact_email_last_clicked_at" => "email_last_clicked_at",
        "contact_updated_at" => "updated_at",
        _ => "created_at",
    };
    sort_records(
        &mut rows,
        |r| r.get(key).cloned().unwrap_or(Value::Null),
        ascending,
    );
    search_answer(args, "contacts", rows, |_| {})
}

pub fn has_any_label(record: &Record, labels: &[String]) -> bool {
    record
        .get("label_ids")
        .and_then(Value::as_array)
        .is_some_and(|ids| {
            ids.iter()
                .any(|id| labels.iter().any(|l| id.as_str() == Some(l.as_str())))
        })
}

fn apply_account_fields(
    team: &mut Team,
    db: &Database,
    account: &mut Record,
    args: &Args,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    for field in ["name", "phone", "raw_address"] {
        if let Some(value) = args.str(field)? {
            account.insert(field.into(), json!(value));
        }
    }
    if let Some(domain) = args.str("domain")? {
        let domain = crate::data::normalize_domain(&domain);
        let org = db
            .organization_by_domain(&domain)
            .map(|i| db.organizations[i].id.clone());
        account.insert("domain".into(), json!(domain));
        account.insert("organization_id".into(), json!(org));
    }
    for key in ["owner_id", "account_stage_id"] {
        if let Some(id) = id_arg(args, key)? {
            account.insert(key.into(), json!(id));
        }
    }
    if let Some(fields) = args.object("typed_custom_fields")? {
        account.insert("typed_custom_fields".into(), Value::Object(fields));
    }
    if args.contains("label_names") {
        let names = args.strings("label_names")?;
        account.insert(
            "label_ids".into(),
            json!(team.label_ids(&names, "accounts", now)),
        );
    }
    account.insert("updated_at".into(), json!(format_time(now)));
    Ok(())
}

/// `POST /accounts`. Apollo does not deduplicate accounts.
pub fn create_account(
    team: &mut Team,
    db: &Database,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    if args.str("name")?.is_none() && args.str("domain")?.is_none() {
        return Err(ApiError::unprocessable(
            "Please specify at least a name or domain.",
        ));
    }
    let id = team.new_id();
    let user = team.first_user_id();
    let mut account = object(json!({
        "id": id, "domain": null, "name": null, "team_id": team.team_id, "organization_id": null,
        "account_stage_id": null, "source": "api", "original_source": "api", "creator_id": user,
        "owner_id": user, "created_at": format_time(now), "updated_at": format_time(now),
        "phone": null, "raw_address": null, "label_ids": [], "typed_custom_fields": {},
        "last_activity_date": null,
    }));
    apply_account_fields(team, db, &mut account, args, now)?;
    team.accounts.insert(account.clone());
    Ok(json!({"account": account}))
}

/// `PATCH /accounts/{id}`.
pub fn update_account(
    team: &mut Team,
    db: &Database,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(mut account) = team.accounts.get(id).cloned() else {
        return Err(ApiError::unprocessable("Account does not exist."));
    };
    apply_account_fields(team, db, &mut account, args, now)?;
    if let Some(slot) = team.accounts.get_mut(id) {
        *slot = account.clone();
    }
    Ok(json!({"account": account}))
}

/// `POST /accounts/search`.
pub fn search_accounts(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let sort = sort_field(
        args,
        &[
            "account_last_activity_date",
            "account_created_at",
            "account_updated_at",
        ],
    )?;
    let ascending = args.flag("sort_ascending")?;
    let name = args.str("q_organization_name")?.map(|n| n.to_lowercase());
    let stages = args.strings("account_stage_ids")?;
    let labels = args.strings("account_label_ids")?;
    let mut rows: Vec<&Record> = team
        .accounts
        .rows()
        .iter()
        .filter(|a| {
            name.as_ref().is_none_or(|n| {
                text(a, "name").to_lowercase().contains(n.as_str())
                    || text(a, "domain").contains(n.as_str())
            }) && (stages.is_empty() || stages.iter().any(|s| s == text(a, "account_stage_id")))
                && (labels.is_empty() || has_any_label(a, &labels))
        })
        .collect();
    let key = match sort.unwrap_or("account_created_at") {
        "account_last_activity_date" => "last_activity_date",
        "account_updated_at" => "updated_at",
        _ => "created_at",
    };
    sort_records(
        &mut rows,
        |r| r.get(key).cloned().unwrap_or(Value::Null),
        ascending,
    );
    search_answer(args, "accounts", rows, |_| {})
}
