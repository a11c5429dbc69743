//! Outreach emails, sequence switches, conversations, notes and fields: the parts of
//! Apollo's reference that the first landing left out (`docs/apollo-catalog.md`). Shapes
//! follow the reference's examples; a sentence marked (uncertain) in that file is one the
//! reference does not spell out.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{Record, Team, create_task, object, search_answer, sort_records, text};
use crate::args::Args;
use crate::clock::format_time;
use crate::error::ApiError;

/// Schedules the first email of `sequence_id` to each contact just added to it (Apollo
/// creates the sequence's first step as an outreach email when a contact joins).
pub fn schedule_first_emails(
    team: &mut Team,
    sequence_id: &str,
    sender: &str,
    contact_ids: &[String],
    now: OffsetDateTime,
) {
    let from = team.email_accounts.get(sender).cloned().unwrap_or_default();
    let sequence = team.sequences.get(sequence_id).cloned().unwrap_or_default();
    for contact_id in contact_ids {
        let Some(contact) = team.contacts.get(contact_id).cloned() else {
            continue;
        };
        let id = team.new_id();
        let message = message(
            &id,
            &contact,
            &from,
            &sequence,
            if sequence.get("active") == Some(&Value::Bool(true)) {
                "scheduled"
            } else {
                "drafted"
            },
            now,
        );
        team.emailer_messages.insert(message);
    }
}

fn message(
    id: &str,
    contact: &Record,
    from: &Record,
    sequence: &Record,
    status: &str,
    at: OffsetDateTime,
) -> Record {
    let first = text(contact, "first_name");
    object(json!({
        "id": id, "user_id": from.get("user_id").cloned().unwrap_or(Value::Null),
        "status": status, "emailer_campaign_id": sequence.get("id").cloned().unwrap_or(Value::Null),
        "emailer_step_id": null, "contact_id": contact.get("id").cloned().unwrap_or(Value::Null),
        "to_name": format!("{first} {}", text(contact, "last_name")).trim().to_owned(),
        "to_email": contact.get("email").cloned().unwrap_or(Value::Null),
        "from_email": from.get("email").cloned().unwrap_or(Value::Null),
        "email_account_id": from.get("id").cloned().unwrap_or(Value::Null),
        "cc_emails": [], "bcc_emails": [],
        "subject": format!("{} - quick question", text(sequence, "name")),
        "body_text": format!("Hi {first}, worth a short call next week?"),
        "created_at": format_time(at), "due_at": format_time(at),
        "completed_at": (status == "delivered").then(|| format_time(at)),
        "num_opens": 0, "num_clicks": 0, "replied": false, "time_zone": "America/Los_Angeles",
    }))
}

/// Seeds outreach emails, conversations and notes from the seeded contacts and deals.
pub fn seed(team: &mut Team, now: OffsetDateTime) {
    // A sequence only emails contacts with an address.
    let contacts: Vec<Record> = team
        .contacts
        .rows()
        .iter()
        .filter(|c| !text(c, "email").is_empty())
        .take(4)
        .cloned()
        .collect();
    let from = team
        .email_accounts
        .rows()
        .first()
        .cloned()
        .unwrap_or_default();
    let sequence = team.sequences.rows().first().cloned().unwrap_or_default();
    for (n, contact) in contacts.iter().enumerate() {
        let id = team.new_id();
        let status = ["delivered", "scheduled", "delivered", "failed"][n % 4];
        let at = now - time::Duration::days(10 - n as i64);
        team.emailer_messages
            .insert(message(&id, contact, &from, &sequence, status, at));
    }
    let host = team.users.rows().first().cloned().unwrap_or_default();
    for (n, contact) in contacts.iter().take(3).enumerate() {
        let id = team.new_id();
        let name = format!(
            "{} {}",
            text(contact, "first_name"),
            text(contact, "last_name")
        );
        let kind = if n == 1 {
            "phone_call"
        } else {
            "video_conference"
        };
        let conversation = json!({
            "id": id, "topic": format!("Intro with {name}"),
            "start_time": format_time(now - time::Duration::days(7 - n as i64)),
            "duration": 1800 + 300 * n, "state": "processed", "host": text(&host, "name"),
            "host_id": host.get("id").cloned().unwrap_or(Value::Null), "is_private": false,
            "pushed_to_crm": false, "conversation_type": kind,
            "account_ids": contact.get("account_id").filter(|a| !a.is_null()).map(|a| vec![a.clone()]).unwrap_or_default(),
            "contact_ids": [contact.get("id").cloned().unwrap_or(Value::Null)],
            "label_id_names": {}, "is_shared_conversation": false, "opportunity_ids": [],
            "comment_count": 0, "failure_code": null, "bot_call_ended_reason": null,
            "is_clip": false, "video_recording": null, "audio_recording": null,
            "transcript": [
                {"speaker": text(&host, "name"), "start": 0, "text": "Thanks for making the time."},
                {"speaker": name, "start": 4, "text": "Happy to. We are looking at options this quarter."},
            ],
            "participants": {
                "internal": [{"name": text(&host, "name"), "email": host.get("email").cloned().unwrap_or(Value::Null)}],
                "external": {"contacts": [{"name": name, "email": contact.get("email").cloned().unwrap_or(Value::Null),
                    "phone_number": "+1 415 555 0199"}]},
            },
            "opportunities": [], "playlist_clip_ids": [], "has_ai_insights": true,
        });
        team.conversations.insert(object(conversation));
    }
    let user = team.first_user_id();
    for (n, contact) in contacts.iter().take(2).enumerate() {
        let id = team.new_id();
        let at = format_time(now - time::Duration::days(3 - n as i64));
        let note = json!({
            "id": id, "user_id": user, "content": "Had a productive call. Interested in the team plan.",
            "created_at": at, "updated_at": at,
            "contact_id": contact.get("id").cloned().unwrap_or(Value::Null),
            "account_id": contact.get("account_id").cloned().unwrap_or(Value::Null),
            "opportunity_id": null, "conversation_id": null, "calendar_event_id": null,
        });
        team.notes.insert(object(note));
    }
}

/// `GET` or `POST /emailer_messages/search`: the team's outreach emails, paged.
pub fn search_messages(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let campaigns = args.strings("emailer_campaign_ids")?;
    let not_campaigns = args.strings("not_emailer_campaign_ids")?;
    let users = args.strings("user_ids")?;
    let stats = args.strings("emailer_message_stats")?;
    let keywords = args.str("q_keywords")?.map(|k| k.to_lowercase());
    let mut rows: Vec<&Record> = team
        .emailer_messages
        .rows()
        .iter()
        .filter(|m| {
            campaigns.is_empty()
                || campaigns
                    .iter()
                    .any(|c| c == text(m, "emailer_campaign_id"))
        })
        .filter(|m| {
            !not_campaigns
                .iter()
                .any(|c| c == text(m, "emailer_campaign_id"))
        })
        .filter(|m| users.is_empty() || users.iter().any(|u| u == text(m, "user_id")))
        .filter(|m| stats.is_empty() || stats.iter().any(|s| s == text(m, "status")))
        .filter(|m| {
            keywords.as_ref().is_none_or(|k| {
                text(m, "subject").to_lowercase().contains(k)
                    || text(m, "body_text").to_lowercase().contains(k)
            })
        })
        .collect();
    sort_records(
        &mut rows,
        |r| r.get("created_at").cloned().unwrap_or(Value::Null),
        false,
    );
    search_answer(args, "emailer_messages", rows, |map| {
        map.insert("emailer_steps".into(), json!([]));
        map.insert("breadcrumbs".into(), json!([]));
    })
}

/// `GET /emailer_messages/{id}/activities`.
pub fn message_activities(team: &Team, id: &str) -> Result<Value, ApiError> {
    let Some(message) = team.emailer_messages.get(id) else {
        return Err(ApiError::unprocessable("Could not find message."));
    };
    Ok(json!({"activities": [{
        "id": id, "type": "emailer_message", "emailer_message_id": id,
        "emailer_message": message, "num_opens": message.get("num_opens").cloned().unwrap_or(json!(0)),
        "num_clicks": message.get("num_clicks").cloned().unwrap_or(json!(0)),
        "replied": message.get("replied").cloned().unwrap_or(json!(false)),
    }]}))
}

/// `POST /emailer_messages/{id}/send_now`: a drafted, scheduled or failed email is sent
/// at once (the sandbox marks it delivered).
pub fn send_now(team: &mut Team, id: &str, now: OffsetDateTime) -> Result<Value, ApiError> {
    let Some(message) = team.emailer_messages.get_mut(id) else {
        return Err(ApiError::unprocessable("Could not find message to send."));
    };
    if !matches!(text(message, "status"), "drafted" | "scheduled" | "failed") {
        // (uncertain) Apollo's reference names the states that can be sent, not this text.
        return Err(ApiError::unprocessable(
            "Only drafted, scheduled or failed emails can be sent now.",
        ));
    }
    message.insert("status".into(), json!("delivered"));
    message.insert("completed_at".into(), json!(format_time(now)));
    Ok(json!({"emailer_message": message.clone()}))
}

/// The three sequence switches: approve (activate), abort (deactivate), archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Approve,
    Abort,
    Archive,
}

/// `POST /emailer_campaigns/{id}/approve|abort|archive`.
pub fn switch_sequence(
    team: &mut Team,
    id: &str,
    switch: Switch,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(sequence) = team.sequences.get_mut(id) else {
        return Err(ApiError::NotFound);
    };
    let active = sequence.get("active") == Some(&Value::Bool(true));
    let steps = sequence
        .get("num_steps")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    match switch {
        Switch::Approve if active => {
            return Err(ApiError::unprocessable("The sequence is already active."));
        }
        Switch::Approve if steps == 0 => {
            return Err(ApiError::unprocessable(
                "Please make sure you have added at least 1 step before turning on the sequence.",
            ));
        }
        Switch::Abort if !active => {
            return Err(ApiError::unprocessable("The sequence is already inactive."));
        }
        Switch::Approve | Switch::Abort | Switch::Archive => {}
    }
    sequence.insert("active".into(), json!(switch == Switch::Approve));
    if switch == Switch::Archive {
        sequence.insert("archived".into(), json!(true));
    }
    sequence.insert("updated_at".into(), json!(format_time(now)));
    let campaign = json!({"id": id, "active": switch == Switch::Approve,
        "archived": sequence.get("archived").cloned().unwrap_or(json!(false)),
        "unique_scheduled": sequence.get("unique_scheduled").cloned().unwrap_or(json!(0))});
    if switch == Switch::Archive {
        return Ok(json!({"emailer_campaign": campaign}));
    }
    let steps: Vec<Value> = (1..=steps)
        .map(|n| {
            json!({"id": format!("{id}-step{n}"), "emailer_campaign_id": id, "position": n,
                   "wait_time": if n == 1 { 0 } else { 2 }, "type": "auto_email", "note": null})
        })
        .collect();
    Ok(json!({"emailer_campaign": campaign, "emailer_steps": steps}))
}

const TASK_GONE: &str = "This task or emailer message has been deleted. Please refresh your page.";

/// `GET /tasks/{id}`.
pub fn show_task(team: &Team, id: &str) -> Result<Value, ApiError> {
    let task = team
        .tasks
        .get(id)
        .ok_or_else(|| ApiError::unprocessable(TASK_GONE))?;
    Ok(json!({"task": task}))
}

/// `PATCH` (or `PUT`) `/tasks/{id}`: only a scheduled task changes.
pub fn update_task(
    team: &mut Team,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let user = args.str("user_id")?;
    if let Some(user) = &user
        && team.users.get(user).is_none()
    {
        return Err(ApiError::unprocessable("User not found."));
    }
    let task = team
        .tasks
        .get_mut(id)
        .ok_or_else(|| ApiError::unprocessable(TASK_GONE))?;
    if text(task, "status") != "scheduled" {
        // (uncertain) the reference says the fields apply to scheduled tasks only.
        return Err(ApiError::unprocessable(
            "Only a scheduled task can be updated.",
        ));
    }
    for key in ["type", "priority", "due_at", "title", "note"] {
        if let Some(v) = args.str(key)? {
            task.insert(key.into(), json!(v));
        }
    }
    if let Some(user) = user {
        task.insert("user_id".into(), json!(user));
    }
    task.insert("updated_at".into(), json!(format_time(now)));
    Ok(json!({"task": task.clone()}))
}

/// `POST /tasks/{id}/complete` and `/skip`.
pub fn finish_task(
    team: &mut Team,
    id: &str,
    args: &Args,
    complete: bool,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let task = team
        .tasks
        .get_mut(id)
        .ok_or_else(|| ApiError::unprocessable(TASK_GONE))?;
    if text(task, "status") != "scheduled" {
        return Err(ApiError::unprocessable(
            "This task has already been completed or skipped.",
        ));
    }
    let (status, at) = if complete {
        ("completed", "completed_at")
    } else {
        ("skipped", "skipped_at")
    };
    task.insert("status".into(), json!(status));
    task.insert(at.into(), json!(format_time(now)));
    if let Some(note) = args.str("note")? {
        task.insert("note".into(), json!(note));
    }
    Ok(json!({"task": task.clone()}))
}

/// `POST /tasks/bulk_create`: the same task for each of `contact_ids`. Every contact is
/// checked first, so a bad one creates nothing.
pub fn bulk_create_tasks(
    team: &mut Team,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let contacts = args.strings("contact_ids")?;
    if contacts.is_empty() {
        return Err(ApiError::unprocessable("contact_ids can not be blank"));
    }
    if contacts.len() > super::more::BULK_LIMIT {
        return Err(ApiError::unprocessable(format!(
            "You can only send up to {} contact_ids at a time",
            super::more::BULK_LIMIT
        )));
    }
    if let Some(missing) = contacts.iter().find(|c| team.contacts.get(c).is_none()) {
        return Err(ApiError::unprocessable(format!(
            "Contact not found: {missing}"
        )));
    }
    let mut tasks = Vec::new();
    for contact in contacts {
        let mut one = args.clone();
        one.remove("contact_ids");
        one.insert("contact_id", json!(contact));
        let created = create_task(team, &one, now)?;
        tasks.push(created["task"].clone());
    }
    Ok(json!({"success": true, "tasks": tasks}))
}

/// `POST /contacts/{id}/opportunities`: the deals of the contact's account. An unknown
/// contact is an empty list, as the reference says.
pub fn contact_deals(team: &Team, id: &str) -> Value {
    let account = team
        .contacts
        .get(id)
        .map(|c| text(c, "account_id").to_owned())
        .unwrap_or_default();
    let deals: Vec<&Record> = team
        .deals
        .rows()
        .iter()
        .filter(|d| !account.is_empty() && text(d, "account_id") == account)
        .collect();
    json!({"opportunities": deals})
}

/// `GET /notes`: needs at least one relation.
pub fn list_notes(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let relations = [
        ("contact_id", "contact_id"),
        ("account_id", "account_id"),
        ("opportunity_id", "opportunity_id"),
        ("conversation_id", "conversation_id"),
        ("calendar_event_id", "calendar_event_id"),
    ];
    let mut wanted: Vec<(&str, Vec<String>)> = Vec::new();
    for (arg, field) in relations {
        if let Some(v) = args.str(arg)? {
            wanted.push((field, vec![v]));
        }
    }
    for (arg, field) in [
        ("contact_ids", "contact_id"),
        ("conversation_ids", "conversation_id"),
    ] {
        let ids = args.strings(arg)?;
        if !ids.is_empty() {
            wanted.push((field, ids));
        }
    }
    if wanted.is_empty() {
        return Err(ApiError::BadRequest(
            "At least one argument is required".into(),
        ));
    }
    let ascending = match args.str("sort_direction")?.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "sort_direction must be \"asc\" or \"desc\"".into(),
            ));
        }
    };
    let sort = match args.str("sort_by_field")?.as_deref() {
        None | Some("created_at") => "created_at",
        Some("updated_at") => "updated_at",
        Some(_) => {
            return Err(ApiError::BadRequest(
                "sort_by_field must be one of: created_at, updated_at".into(),
            ));
        }
    };
    let number = |key: &str, default: u64| -> Result<u64, ApiError> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                ApiError::BadRequest(format!("{key} must be a non-negative integer"))
            }),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("{key} must be a non-negative integer"))),
            Some(_) => Err(ApiError::BadRequest(format!(
                "{key} must be a non-negative integer"
            ))),
        }
    };
    let skip = number("skip", 0)?;
    let limit = number("limit", 25)?.min(100);
    let mut rows: Vec<&Record> = team
        .notes
        .rows()
        .iter()
        .filter(|n| {
            wanted
                .iter()
                .all(|(field, ids)| ids.iter().any(|i| i == text(n, field)))
        })
        .collect();
    sort_records(
        &mut rows,
        |r| r.get(sort).cloned().unwrap_or(Value::Null),
        ascending,
    );
    let page: Vec<&Record> = rows
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(100))
        .collect();
    Ok(json!({"notes": page}))
}

/// Standard fields every team has: (id, label, modality, type).
const SYSTEM_FIELDS: &[(&str, &str, &str, &str)] = &[
    ("contact.id", "Identifier", "contact", "string"),
    ("contact.first_name", "First Name", "contact", "string"),
    ("contact.last_name", "Last Name", "contact", "string"),
    ("contact.title", "Title", "contact", "string"),
    ("contact.email", "Email", "contact", "string"),
    ("account.name", "Company Name", "account", "string"),
    ("account.domain", "Website", "account", "string"),
    ("opportunity.name", "Deal Name", "opportunity", "string"),
    ("opportunity.amount", "Amount", "opportunity", "number"),
    (
        "opportunity.closed_date",
        "Close Date",
        "opportunity",
        "date",
    ),
];

fn custom_field(record: &Record) -> Value {
    json!({"id": format!("{}.{}", text(record, "modality"), text(record, "id")),
           "field_name": text(record, "name"), "label": text(record, "name"),
           "modality": text(record, "modality"), "type": text(record, "type"),
           "source": "custom", "editable": true, "description": null, "parent": null,
           "picklist_values": record.get("picklist_values").cloned().unwrap_or(json!([]))})
}

/// `GET /fields`, optionally one `source`.
pub fn list_fields(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let source = args.str("source")?;
    if let Some(s) = &source
        && !matches!(s.as_str(), "system" | "custom" | "crm_synced")
    {
        return Err(ApiError::unprocessable(
            "source must be one of: system, custom, crm_synced",
        ));
    }
    let want = |s: &str| source.as_deref().is_none_or(|w| w == s);
    let mut fields: Vec<Value> = Vec::new();
    if want("system") {
        fields.extend(SYSTEM_FIELDS.iter().map(|(id, label, modality, kind)| {
            json!({"id": id, "field_name": id, "label": label, "modality": modality,
                   "type": kind, "source": "system", "editable": false, "description": null,
                   "parent": null})
        }));
    }
    if want("custom") {
        fields.extend(team.custom_fields.rows().iter().map(custom_field));
    }
    Ok(json!({"fields": fields}))
}

/// `POST /fields`.
pub fn create_field(team: &mut Team, args: &Args, now: OffsetDateTime) -> Result<Value, ApiError> {
    let (Some(label), Some(modality), Some(kind)) =
        (args.str("label")?, args.str("modality")?, args.str("type")?)
    else {
        return Err(ApiError::unprocessable(
            "label, modality and type are required",
        ));
    };
    if !matches!(modality.as_str(), "contact" | "account" | "opportunity") {
        return Err(ApiError::unprocessable(
            "modality must be one of: contact, account, opportunity",
        ));
    }
    if !matches!(
        kind.as_str(),
        "string" | "textarea" | "number" | "date" | "datetime" | "boolean"
    ) {
        return Err(ApiError::unprocessable(
            "type must be one of: string, textarea, number, date, datetime, boolean",
        ));
    }
    let id = team.new_id();
    let field = object(
        json!({"id": id, "name": label, "type": kind, "modality": modality,
        "picklist_values": [], "created_at": format_time(now)}),
    );
    team.custom_fields.insert(field);
    Ok(
        json!({"typed_custom_fields": [{"id": id, "name": label, "modality": modality, "type": kind}]}),
    )
}

/// `PATCH /fields`: custom fields by id (`contact.<id>`); system fields cannot change.
pub fn update_fields(team: &mut Team, args: &Args) -> Result<Value, ApiError> {
    let items: Vec<Map<String, Value>> = match args.get("fields") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_object()
                    .cloned()
                    .ok_or_else(|| ApiError::unprocessable("fields must be a list of objects"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::unprocessable("fields is required")),
    };
    let mut ids = Vec::new();
    for item in &items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        let bare = id.split_once('.').map_or(id, |(_, b)| b);
        if team.custom_fields.get(bare).is_none() {
            return Err(ApiError::unprocessable(format!("Field not found: {id}")));
        }
        ids.push(bare.to_owned());
    }
    let mut out = Vec::new();
    for (item, id) in items.iter().zip(ids) {
        if let Some(field) = team.custom_fields.get_mut(&id) {
            if let Some(label) = item.get("label").and_then(Value::as_str) {
                field.insert("name".into(), json!(label));
            }
            if let Some(values) = item.get("meta").and_then(|m| m.get("picklist_values")) {
                field.insert("picklist_values".into(), values.clone());
            }
            out.push(custom_field(field));
        }
    }
    Ok(json!({"fields": out}))
}

/// `POST /conversations/search`: summaries, without transcripts or recordings.
pub fn search_conversations(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let kind = args.str("conversation_type")?;
    let account = args.str("account_id")?;
    let contacts = args.strings("contact_ids")?;
    let rows: Vec<&Record> = team
        .conversations
        .rows()
        .iter()
        .filter(|c| {
            kind.as_deref()
                .is_none_or(|k| k == text(c, "conversation_type"))
        })
        .filter(|c| {
            account.as_deref().is_none_or(|a| {
                c.get("account_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(a)))
            })
        })
        .filter(|c| {
            contacts.is_empty()
                || c.get("contact_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| {
                        ids.iter()
                            .any(|i| contacts.iter().any(|w| i.as_str() == Some(w)))
                    })
        })
        .collect();
    let summaries: Vec<Record> = rows.iter().map(|c| summary(c)).collect();
    let mut paged = args.clone();
    if let Some(n) = args.get("num_fetch_result").cloned() {
        paged.insert("per_page", n);
    }
    search_answer(&paged, "conversations", summaries.iter().collect(), |map| {
        map.insert("breadcrumbs".into(), json!({}));
        map.insert("playlist_clip_ids".into(), json!([]));
    })
}

fn summary(c: &Record) -> Record {
    let mut s = c.clone();
    for key in [
        "transcript",
        "video_recording",
        "audio_recording",
        "participants",
    ] {
        s.remove(key);
    }
    let names: Vec<Value> = c
        .get("participants")
        .and_then(|p| p.pointer("/external/contacts"))
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(|x| x.get("name").cloned()).collect())
        .unwrap_or_default();
    s.insert("participant_names".into(), Value::Array(names));
    s.insert("can_access_conversation".into(), json!(true));
    s
}

/// `GET /conversations/{id}`: the whole conversation, at the top of the answer.
pub fn show_conversation(team: &Team, id: &str) -> Result<Record, ApiError> {
    team.conversations
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::Missing("Conversation not found or access denied.".into()))
}

/// `GET /emailer_schedules`: the team's sending schedules (two, derived from the team id so
/// they are stable).
pub fn email_schedules(team: &Team) -> Value {
    let id = |n: u8| format!("{}{n:02}", team.team_id.get(..22).unwrap_or(&team.team_id));
    json!({"emailer_schedules": [
        {"id": id(1), "name": "Normal Business Hours", "default": true,
         "time_zone": "America/Los_Angeles",
         "schedule": {"days": ["monday", "tuesday", "wednesday", "thursday", "friday"], "start": "09:00", "end": "17:00"}},
        {"id": id(2), "name": "Mornings", "default": false, "time_zone": "America/New_York",
         "schedule": {"days": ["tuesday", "wednesday", "thursday"], "start": "08:00", "end": "11:00"}},
    ]})
}

/// `POST /emailer_messages/get_content`: subject and body of each email named in `ids`;
/// unknown ids are left out.
pub fn message_content(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let ids = args.strings("ids")?;
    if ids.is_empty() {
        return Err(ApiError::unprocessable("ids is required"));
    }
    let format = args
        .str("body_format")?
        .unwrap_or_else(|| "plain".to_owned());
    if !matches!(format.as_str(), "plain" | "html") {
        return Err(ApiError::unprocessable("body_format must be plain or html"));
    }
    let out: Vec<Value> = ids
        .iter()
        .filter_map(|id| team.emailer_messages.get(id))
        .map(|m| {
            let body = match format.as_str() {
                "html" => format!("<p>{}</p>", text(m, "body_text")),
                _ => text(m, "body_text").to_owned(),
            };
            json!({"id": m.get("id"), "subject": m.get("subject"), "body": body,
                   "body_format": format, "status": m.get("status"), "sent_at": m.get("completed_at")})
        })
        .collect();
    Ok(json!({"emailer_messages": out}))
}

/// `POST /emailer_messages/email_send_status`.
pub fn send_status(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let Some(id) = args.str("id")? else {
        return Err(ApiError::unprocessable("id is required"));
    };
    let Some(m) = team.emailer_messages.get(&id) else {
        return Err(ApiError::unprocessable("Could not find message."));
    };
    let message = match text(m, "status") {
        "delivered" => "Email delivered successfully.",
        "failed" => "The email could not be sent.",
        _ => "The email has not been sent yet.",
    };
    Ok(
        json!({"id": id, "status": m.get("status"), "message": message,
              "completed_at": m.get("completed_at")}),
    )
}

/// `POST /emailer_campaigns/activity_feed`: a contact's sequence events, newest first.
pub fn activity_feed(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let Some(contact_id) = args.str("contact_id")? else {
        return Err(ApiError::unprocessable("contact_id is required"));
    };
    let only = args.str("sequence_id")?;
    let statuses = team
        .contacts
        .get(&contact_id)
        .and_then(|c| c.get("contact_campaign_statuses"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let events: Vec<Value> = statuses
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| s["emailer_campaign_id"] == o))
        .map(|s| {
            let seq = s["emailer_campaign_id"].as_str().unwrap_or_default();
            let name = team.sequences.get(seq).map(|q| text(q, "name").to_owned());
            let kind = match s["status"].as_str() {
                Some("finished") => "completed",
                Some("paused") => "paused",
                Some("removed") => "removed",
                _ => "added",
            };
            json!({"type": kind, "occurred_at": s["added_at"], "sequence_id": seq, "sequence_name": name})
        })
        .collect();
    Ok(json!({"contact_id": contact_id, "events": events}))
}

fn list_modality(args: &Args) -> Result<String, ApiError> {
    match args.str("modality")?.as_deref() {
        Some(m @ ("contacts" | "accounts")) => Ok(m.to_owned()),
        _ => Err(ApiError::unprocessable(
            "modality must be contacts or accounts",
        )),
    }
}

/// `POST /labels`: a new list; a name already used for that modality is refused.
pub fn create_list(team: &mut Team, args: &Args, now: OffsetDateTime) -> Result<Value, ApiError> {
    let Some(name) = args.str("name")? else {
        return Err(ApiError::unprocessable("name is required"));
    };
    let modality = list_modality(args)?;
    let taken =
        team.labels.rows().iter().any(|l| {
            text(l, "name").eq_ignore_ascii_case(&name) && text(l, "modality") == modality
        });
    if taken {
        // (uncertain) Apollo's page does not give this text.
        return Err(ApiError::unprocessable(
            "A list with this name already exists.",
        ));
    }
    let id = team.label_ids(&[name], &modality, now).remove(0);
    Ok(json!({"label": team.labels.get(&id)}))
}

/// `PATCH /labels/{id}`: a new name.
pub fn rename_list(
    team: &mut Team,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(name) = args.str("name")? else {
        return Err(ApiError::unprocessable("name is required"));
    };
    let label = team.labels.get_mut(id).ok_or(ApiError::NotFound)?;
    label.insert("name".into(), json!(name));
    label.insert("updated_at".into(), json!(format_time(now)));
    Ok(json!({"label": label.clone()}))
}

/// `POST /labels/add_entity_ids_to_label_names` (`add`) and `remove_entity_ids_from_label_names`:
/// puts records on lists by name (creating lists that do not exist) or takes them off.
pub fn list_members(
    team: &mut Team,
    args: &Args,
    add: bool,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let entities = args.strings("entity_ids")?;
    let names = args.strings("label_names")?;
    if entities.is_empty() || names.is_empty() {
        return Err(ApiError::unprocessable(
            "entity_ids and label_names are required",
        ));
    }
    let modality = list_modality(args)?;
    let labels = if add {
        team.label_ids(&names, &modality, now)
    } else {
        team.labels
            .rows()
            .iter()
            .filter(|l| {
                text(l, "modality") == modality
                    && names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(text(l, "name")))
            })
            .map(|l| text(l, "id").to_owned())
            .collect()
    };
    let table = if modality == "contacts" {
        &mut team.contacts
    } else {
        &mut team.accounts
    };
    for id in &entities {
        if let Some(record) = table.get_mut(id) {
            let mut have: Vec<Value> = record
                .get("label_ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for label in &labels {
                let present = have.iter().any(|h| h == label);
                if add && !present {
                    have.push(json!(label));
                } else if !add {
                    have.retain(|h| h != label);
                }
            }
            record.insert("label_ids".into(), Value::Array(have));
            record.insert("updated_at".into(), json!(format_time(now)));
        }
    }
    let out: Vec<Value> = labels
        .iter()
        .filter_map(|l| team.labels.get(l))
        .map(|l| Value::Object(l.clone()))
        .collect();
    Ok(json!({"labels": out}))
}
