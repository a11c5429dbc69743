//! Sequences (Apollo's `emailer_campaigns`) and tasks.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    Record, Team, id_arg, is_valid_id, object, search_answer, sort_field, sort_records, text,
};
use crate::args::Args;
use crate::clock::format_time;
use crate::error::ApiError;

/// `POST /emailer_campaigns/search`.
pub fn search_sequences(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let name = args.str("q_name")?.map(|n| n.to_lowercase());
    let rows: Vec<&Record> = team
        .sequences
        .rows()
        .iter()
        .filter(|s| {
            name.as_ref()
                .is_none_or(|n| text(s, "name").to_lowercase().contains(n.as_str()))
        })
        .collect();
    search_answer(args, "emailer_campaigns", rows, |_| {})
}

/// `POST /emailer_campaigns/{id}/add_contact_ids`. Skipped contacts are reported by id
/// with a reason; the rest are added once (adding twice is harmless).
pub fn add_contacts_to_sequence(
    team: &mut Team,
    path_id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let campaign = args.str("emailer_campaign_id")?;
    let sender = args.str("send_email_from_email_account_id")?;
    let (Some(campaign), Some(sender)) = (campaign, sender) else {
        return Err(ApiError::unprocessable(
            "Please specify a emailer_campaign_id and send_email_from_email_account_id.",
        ));
    };
    let contact_ids = args.strings("contact_ids")?;
    let label_names = args.strings("label_names")?;
    if contact_ids.is_empty() && label_names.is_empty() {
        return Err(ApiError::unprocessable(
            "Please specify either contact_ids or label_names.",
        ));
    }
    if campaign != path_id {
        return Err(ApiError::unprocessable(format!(
            "emailer_campaign_id ({campaign}) does not match the sequence in the path ({path_id})."
        )));
    }
    for id in [&campaign, &sender] {
        if !is_valid_id(id) {
            return Err(ApiError::unprocessable(format!(
                "Parameters misconfigured. {id} is not a valid ID"
            )));
        }
    }
    if team.sequences.get(path_id).is_none() {
        return Err(ApiError::NotFound);
    }
    if team.email_accounts.get(&sender).is_none() {
        return Err(ApiError::unprocessable(
            "The email account to send from does not exist.",
        ));
    }
    let status = args.str("status")?.unwrap_or_else(|| "active".to_owned());
    if !matches!(status.as_str(), "active" | "paused") {
        return Err(ApiError::unprocessable("status must be active or paused."));
    }
    let user_id = id_arg(args, "user_id")?.unwrap_or_else(|| team.first_user_id());
    let allow_no_email = args.flag("sequence_no_email")?;
    let allow_unverified = args.flag("sequence_unverified_email")?;
    let allow_active_elsewhere = args.flag("sequence_active_in_other_campaigns")?;
    let mut targets = contact_ids.clone();
    if !label_names.is_empty() {
        let wanted: Vec<String> = team
            .labels
            .rows()
            .iter()
            .filter(|l| {
                label_names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(text(l, "name")))
            })
            .map(|l| text(l, "id").to_owned())
            .collect();
        for contact in team.contacts.rows() {
            if super::contact::has_any_label(contact, &wanted)
                && !targets.iter().any(|t| t == text(contact, "id"))
            {
                targets.push(text(contact, "id").to_owned());
            }
        }
    }
    let mut added = Vec::new();
    let mut joined = Vec::new();
    let mut skipped = Map::new();
    for id in targets {
        let Some(contact) = team.contacts.get_mut(&id) else {
            skipped.insert(id, json!("contact_not_found"));
            continue;
        };
        let campaigns: Vec<String> = contact
            .get("emailer_campaign_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let reason = if text(contact, "email").is_empty() && !allow_no_email {
            Some("contact_no_email")
        } else if text(contact, "email_status") == "unverified" && !allow_unverified {
            Some("unverified_email")
        } else if !allow_active_elsewhere && campaigns.iter().any(|c| c != path_id) {
            Some("contact_in_other_campaigns")
        } else {
            None
        };
        if let Some(reason) = reason {
            skipped.insert(id, json!(reason));
            continue;
        }
        if !campaigns.iter().any(|c| c == path_id) {
            joined.push(id.clone());
            let mut ids = campaigns;
            ids.push(path_id.to_owned());
            contact.insert("emailer_campaign_ids".into(), json!(ids));
            let mut statuses = contact
                .get("contact_campaign_statuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            statuses.push(json!({
                "id": format!("{path_id}-{id}"), "emailer_campaign_id": path_id,
                "send_email_from_email_account_id": sender, "send_email_from_user_id": user_id,
                "status": status, "added_at": format_time(now), "added_by_user_id": user_id,
                "current_step_id": null, "finished_at": null,
            }));
            contact.insert("contact_campaign_statuses".into(), Value::Array(statuses));
            contact.insert("updated_at".into(), json!(format_time(now)));
        }
        added.push(Value::Object(contact.clone()));
    }
    super::outreach::schedule_first_emails(team, path_id, &sender, &joined, now);
    let sequence = team.sequences.get(path_id).cloned().unwrap_or_default();
    Ok(json!({"contacts": added, "skipped_contact_ids": skipped, "emailer_campaign": sequence}))
}

const TASK_TYPES: &[&str] = &[
    "call",
    "outreach_manual_email",
    "linkedin_step_connect",
    "linkedin_step_message",
    "linkedin_step_view_profile",
    "linkedin_step_interact_post",
    "action_item",
];
const PRIORITIES: &[&str] = &["high", "medium", "low"];

/// `POST /tasks`.
pub fn create_task(team: &mut Team, args: &Args, now: OffsetDateTime) -> Result<Value, ApiError> {
    let kind = args.str("type")?;
    let user_id = args.str("user_id")?;
    let (Some(kind), Some(user_id)) = (kind, user_id) else {
        return Err(ApiError::unprocessable("type and user can not be blank"));
    };
    let Some(contact_id) = args.str("contact_id")? else {
        return Err(ApiError::unprocessable("contact can not be blank"));
    };
    let Some(status) = args.str("status")? else {
        return Err(ApiError::unprocessable("status can not be blank"));
    };
    let Some(due_at) = args.str("due_at")? else {
        return Err(ApiError::unprocessable("due_at can not be blank"));
    };
    for id in [&user_id, &contact_id] {
        if !is_valid_id(id) {
            return Err(ApiError::unprocessable(format!(
                "Parameters misconfigured. {id} is not a valid ID"
            )));
        }
    }
    if !TASK_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "type must be one of: {}",
            TASK_TYPES.join(", ")
        )));
    }
    if !matches!(status.as_str(), "scheduled" | "completed" | "skipped") {
        return Err(ApiError::unprocessable(
            "status must be one of: scheduled, completed, skipped",
        ));
    }
    let priority = args.str("priority")?.unwrap_or_else(|| "medium".to_owned());
    if !PRIORITIES.contains(&priority.as_str()) {
        return Err(ApiError::unprocessable(
            "priority must be one of: high, medium, low",
        ));
    }
    let Ok(due) = OffsetDateTime::parse(&due_at, &Rfc3339) else {
        return Err(ApiError::unprocessable(format!(
            "due_at is not an ISO 8601 time: {due_at}"
        )));
    };
    if team.users.get(&user_id).is_none() {
        return Err(ApiError::unprocessable("User not found."));
    }
    let Some(contact) = team.contacts.get(&contact_id) else {
        return Err(ApiError::unprocessable("Contact not found."));
    };
    let account_id = contact.get("account_id").cloned().unwrap_or(Value::Null);
    let id = team.new_id();
    let done = (status == "completed").then(|| format_time(now));
    let skipped = (status == "skipped").then(|| format_time(now));
    let task = object(json!({
        "id": id, "user_id": user_id, "created_at": format_time(now), "updated_at": format_time(now),
        "completed_at": done, "skipped_at": skipped, "note": args.str("note")?,
        "title": args.str("title")?, "due_at": format_time(due), "type": kind, "priority": priority,
        "status": status, "answered": null, "contact_id": contact_id, "account_id": account_id,
        "persona_ids": [], "emailer_campaign_id": null, "created_from": "api",
    }));
    team.tasks.insert(task.clone());
    Ok(json!({"task": task}))
}

/// `POST /tasks/search`. `open_factor_names: ["task_types"]` adds counts by type.
pub fn search_tasks(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let sort = sort_field(args, &["task_due_at", "task_priority"])?;
    let ascending = args.flag("sort_ascending")?;
    let factors = args.strings("open_factor_names")?;
    let mut rows: Vec<&Record> = team.tasks.rows().iter().collect();
    match sort.unwrap_or("task_due_at") {
        "task_priority" => sort_records(
            &mut rows,
            |r| {
                json!(
                    PRIORITIES.len()
                        - PRIORITIES
                            .iter()
                            .position(|p| *p == text(r, "priority"))
                            .unwrap_or(2)
                )
            },
            ascending,
        ),
        _ => sort_records(
            &mut rows,
            |r| r.get("due_at").cloned().unwrap_or(Value::Null),
            ascending,
        ),
    }
    let faceting = factors.iter().any(|f| f == "task_types").then(|| {
        let counts: Vec<Value> = TASK_TYPES
            .iter()
            .map(|t| (t, rows.iter().filter(|r| text(r, "type") == *t).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| json!({"value": t, "display_name": t, "count": n}))
            .collect();
        json!({"task_types": counts})
    });
    search_answer(args, "tasks", rows, |map| {
        if let Some(faceting) = faceting {
            map.insert("faceting".into(), faceting);
        }
    })
}
