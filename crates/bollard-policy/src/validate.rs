//! Apollo's own constraints, checked before anything is forwarded or any credit spent,
//! each with a sentence that says what to send instead. The gateway answers them as
//! Apollo does (422 `{"error": ...}`).

use std::fmt;

use serde_json::Value;

use crate::args::Args;
use crate::catalog::{
    ACCOUNT_SORTS, Action, ActionId, BULK_LIMIT, CALL_STATUSES, CONTACT_SORTS, CONVERSATION_TYPES,
    DEAL_SORTS, FIELD_MODALITIES, FIELD_SOURCES, FIELD_TYPES, LIST_MODALITIES, NOTE_SORTS,
    SEQUENCE_MODES, TASK_PRIORITIES, TASK_SORTS, TASK_STATUSES, TASK_TYPES, valid_path_id,
};

/// Arguments Apollo would refuse (or silently misread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Invalid {}

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        message: message.into(),
    })
}

/// Checks `args` (and the record id of the path, or of the MCP arguments) against
/// Apollo's constraints for `action`.
pub fn validate(action: &Action, args: &Args, path_id: Option<&str>) -> Result<(), Invalid> {
    if let Some(param) = action.path_param {
        match path_id {
            Some(id) if valid_path_id(id) => {}
            Some(_) => invalid(format!(
                "'{param}' must be an Apollo id: 1 to 64 letters, digits, '_' or '-'."
            ))?,
            None => invalid(format!(
                "'{param}' is required: the id of the record to change."
            ))?,
        }
    }
    if action.paginated() {
        range(
            args,
            "per_page",
            1,
            100,
            "Apollo returns at most 100 results per page",
        )?;
        range(
            args,
            "page",
            1,
            500,
            "Apollo serves at most 500 pages of one search; narrow the filters",
        )?;
    }
    if args.has("webhook_url") {
        webhook_url(args)?;
    }
    match action.id {
        ActionId::PeopleSearch | ActionId::OrganizationsSearch => {
            let domains = args.list("q_organization_domains_list").len();
            if domains > 1000 {
                invalid(format!(
                    "'q_organization_domains_list' has {domains} domains; Apollo takes at most 1000 in one search."
                ))?;
            }
        }
        ActionId::PeopleEnrich => {
            person_identified(args.value(), "")?;
            webhook_when_needed(args)?;
        }
        ActionId::PeopleBulkEnrich => {
            let details = match args.value().get("details") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => {
                    return invalid(
                        "'details' is required: a list of 1 to 10 people, each with an id, email, hashed_email, linkedin_url, name, or first_name and last_name with organization_name or domain.",
                    );
                }
                Some(_) => {
                    return invalid(
                        "'details' must be a list of people (objects), 1 to 10 of them.",
                    );
                }
            };
            if details.is_empty() {
                invalid("'details' is empty; send 1 to 10 people to enrich.")?;
            }
            if details.len() > 10 {
                invalid(format!(
                    "'details' has {} people; bulk enrichment takes at most 10 per call, so split them into calls of 10.",
                    details.len()
                ))?;
            }
            for (i, person) in details.iter().enumerate() {
                let Value::Object(person) = person else {
                    return invalid(format!(
                        "details[{i}] must be an object identifying a person, such as {{\"email\": \"...\"}}."
                    ));
                };
                person_identified(person, &format!("details[{i}]: "))?;
            }
            webhook_when_needed(args)?;
        }
        ActionId::OrganizationsEnrich => {
            if !any_present(args, &["domain", "linkedin_url", "name", "website"]) {
                invalid(
                    "Give the company to enrich: a 'domain' (such as acme.com, without www.), 'linkedin_url', 'name' or 'website'.",
                )?;
            }
        }
        ActionId::ContactsSearch => sort_field(args, CONTACT_SORTS)?,
        ActionId::AccountsSearch => sort_field(args, ACCOUNT_SORTS)?,
        ActionId::TasksSearch => sort_field(args, TASK_SORTS)?,
        ActionId::DealsList => sort_field(args, DEAL_SORTS)?,
        ActionId::AccountsCreate => {
            if !any_present(args, &["name", "domain"]) {
                invalid("An account needs a 'name' or a 'domain' (or both).")?;
            }
        }
        ActionId::DealsCreate => {
            if !any_present(args, &["name"]) {
                invalid("A deal needs a 'name'.")?;
            }
            deal_fields(args)?;
        }
        ActionId::DealsUpdate => deal_fields(args)?,
        ActionId::TasksCreate => {
            task_required(args, "contact_id")?;
            task_fields(args)?;
        }
        ActionId::TasksBulkCreate => {
            task_required(args, "contact_ids")?;
            let contacts = args.list("contact_ids").len();
            if contacts > BULK_LIMIT {
                invalid(format!(
                    "'contact_ids' has {contacts} contacts; Apollo creates tasks for at most {BULK_LIMIT} in one call, so split them."
                ))?;
            }
            task_fields(args)?;
        }
        ActionId::TasksUpdate => {
            if args.has("due_at") {
                task_fields(args)?;
            } else {
                one_of(args, "type", TASK_TYPES)?;
                one_of(args, "status", TASK_STATUSES)?;
                one_of(args, "priority", TASK_PRIORITIES)?;
            }
        }
        ActionId::ContactsNotes => {
            let relations = [
                "contact_id",
                "account_id",
                "opportunity_id",
                "calendar_event_id",
                "conversation_id",
                "contact_ids",
                "conversation_ids",
            ];
            if !any_present(args, &relations) {
                invalid(
                    "Say whose notes to list: a 'contact_id', 'account_id', 'opportunity_id', 'conversation_id' or 'calendar_event_id' (Apollo needs at least one).",
                )?;
            }
            one_of(args, "sort_by_field", NOTE_SORTS)?;
            one_of(args, "sort_direction", &["asc", "desc"])?;
            range(
                args,
                "limit",
                1,
                100,
                "Apollo returns at most 100 notes at a time",
            )?;
        }
        ActionId::ContactsFields => one_of(args, "source", FIELD_SOURCES)?,
        ActionId::ContactsCreateField => {
            let missing: Vec<&str> = ["label", "modality", "type"]
                .into_iter()
                .filter(|k| !any_present(args, &[k]))
                .collect();
            if !missing.is_empty() {
                invalid(format!(
                    "A custom field needs a 'label', a 'modality' and a 'type': {} missing.",
                    quote_list(&missing)
                ))?;
            }
            one_of(args, "modality", FIELD_MODALITIES)?;
            one_of(args, "type", FIELD_TYPES)?;
        }
        ActionId::ContactsUpdateFields => {
            // A field's id names its records too: `contact.66f1...`.
            for (i, field) in records(args, "fields", "fields")?.iter().enumerate() {
                let ok = field.get("id").and_then(Value::as_str).is_some_and(|id| {
                    id.split_once('.')
                        .is_some_and(|(m, f)| valid_path_id(m) && valid_path_id(f))
                });
                if !ok {
                    invalid(format!(
                        "fields[{i}] needs an 'id' as the list of fields gives it, such as contact.66f1a2b3c4."
                    ))?;
                }
            }
        }
        ActionId::CallsConversations => {
            one_of(args, "conversation_type", CONVERSATION_TYPES)?;
            range(
                args,
                "num_fetch_result",
                1,
                100,
                "Apollo returns at most 100 conversations per page",
            )?;
        }
        ActionId::PeopleWebhookResult => {
            // Apollo's request ids are integers; anything else is its 400 invalid_request_id.
            if path_id.is_some_and(|id| !id.bytes().all(|b| b.is_ascii_digit())) {
                invalid(
                    "'request_id' must be the number Apollo gave the enrichment call (digits only).",
                )?;
            }
        }
        ActionId::SequencesAddContacts => {
            if let (Some(path), Some(given)) = (path_id, args.value().get("emailer_campaign_id")) {
                let given = match given {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                if given != path {
                    invalid(format!(
                        "'emailer_campaign_id' ({}) is not the sequence in the path ({path}); send the same id, or leave it out.",
                        shorten(&given)
                    ))?;
                }
            }
            if args.list("contact_ids").is_empty() && args.list("label_names").is_empty() {
                invalid(
                    "Say which contacts to add: 'contact_ids' (a list of contact ids) or 'label_names' (lists of contacts).",
                )?;
            }
            if !any_present(args, &["send_email_from_email_account_id"]) {
                invalid(
                    "'send_email_from_email_account_id' is required: the id of the email account the sequence sends from.",
                )?;
            }
            one_of(args, "status", &["active", "paused"])?;
        }
        // Nothing beyond paging and the webhook check above.
        ActionId::ContactsCreate
        | ActionId::ContactsUpdate
        | ActionId::AccountsUpdate
        | ActionId::SequencesSearch
        | ActionId::UsersList
        | ActionId::UsersUsageStats
        | ActionId::PeopleView
        | ActionId::OrganizationsView
        | ActionId::OrganizationsJobPostings
        | ActionId::ContactsView
        | ActionId::ContactsStages
        | ActionId::ContactsLabels
        | ActionId::ContactsCustomFields
        | ActionId::AccountsView
        | ActionId::AccountsStages
        | ActionId::SequencesEmailAccounts
        | ActionId::DealsView
        | ActionId::DealsStages
        | ActionId::CallsSearch
        | ActionId::UsersProfile
        | ActionId::UsersAuthHealth
        | ActionId::SequencesEmails
        | ActionId::SequencesEmailStats
        | ActionId::SequencesSendNow
        | ActionId::SequencesActivate
        | ActionId::SequencesDeactivate
        | ActionId::SequencesArchive
        | ActionId::TasksView
        | ActionId::TasksComplete
        | ActionId::TasksSkip
        | ActionId::DealsContactDeals
        | ActionId::CallsConversation
        | ActionId::UsersCreditUsage
        | ActionId::SequencesSchedules => {}
        ActionId::SequencesEmailContent => {
            if args.list("ids").is_empty() {
                invalid("'ids' is required: the ids of the outreach emails to read.")?;
            }
            one_of(args, "body_format", &["plain", "html"])?;
        }
        ActionId::SequencesEmailStatus => {
            if !any_present(args, &["id"]) {
                invalid("'id' is required: the id of the outreach email.")?;
            }
        }
        ActionId::SequencesActivity => {
            if !any_present(args, &["contact_id"]) {
                invalid("'contact_id' is required: the contact whose sequence activity to read.")?;
            }
            range(
                args,
                "per_page",
                1,
                100,
                "Apollo returns at most 100 events",
            )?;
        }
        ActionId::ContactsCreateList => {
            if !any_present(args, &["name"]) || !any_present(args, &["modality"]) {
                invalid("A list needs a 'name' and a 'modality' (contacts or accounts).")?;
            }
            one_of(args, "modality", LIST_MODALITIES)?;
        }
        ActionId::ContactsUpdateList => {
            if !any_present(args, &["name"]) {
                invalid("'name' is required: the list's new name.")?;
            }
        }
        ActionId::ContactsAddToLists | ActionId::ContactsRemoveFromLists => {
            let missing: Vec<&str> = ["entity_ids", "label_names", "modality"]
                .into_iter()
                .filter(|k| !any_present(args, &[k]))
                .collect();
            if !missing.is_empty() {
                invalid(format!(
                    "Say which records and which lists: 'entity_ids', 'label_names' and 'modality' (contacts or accounts); {} missing.",
                    quote_list(&missing)
                ))?;
            }
            one_of(args, "modality", LIST_MODALITIES)?;
        }
        ActionId::OrganizationsBulkEnrich => {
            // Counted as the credits it reserves: anything but a string (a nested list, an
            // object, null) is not counted, yet would be forwarded, and an Apollo that read
            // it as more domains would enrich more than was reserved (found in review).
            let not_a_domain = match args.value().get("domains") {
                Some(Value::Array(items)) => items.iter().any(|v| !v.is_string()),
                Some(Value::String(_) | Value::Null) | None => false,
                Some(_) => true,
            };
            if not_a_domain {
                invalid(
                    "'domains' is a list of company domains as strings, such as [\"acme.com\", \"b.io\"]; nested lists, objects and null are not domains.",
                )?;
            }
            let domains = args.list("domains").len();
            if domains == 0 {
                invalid(
                    "'domains' is required: a list of 1 to 10 company domains, such as [\"acme.com\"].",
                )?;
            }
            if domains > 10 {
                invalid(format!(
                    "'domains' has {domains} domains; bulk company enrichment takes at most 10 per call, so split them into calls of 10."
                ))?;
            }
        }
        ActionId::OrganizationsNews => {
            if args.list("organization_ids").is_empty() {
                invalid(
                    "'organization_ids' is required: the Apollo ids of the companies whose news to search.",
                )?;
            }
        }
        ActionId::ContactsBulkCreate => {
            records(args, "contacts", "contacts")?;
        }
        ActionId::AccountsBulkCreate => {
            for (i, account) in records(args, "accounts", "accounts")?.iter().enumerate() {
                if !["name", "domain"].iter().any(|k| present(account.get(*k))) {
                    invalid(format!(
                        "accounts[{i}] needs a 'name' or a 'domain' (or both)."
                    ))?;
                }
            }
        }
        ActionId::ContactsBulkUpdate if !args.has("contact_attributes") => {
            ids_for_all(
                args,
                "contact_ids",
                "contact_attributes",
                "contacts",
                BULK_LIMIT,
            )?;
        }
        ActionId::ContactsBulkUpdate => {
            for (i, contact) in records(args, "contact_attributes", "contacts")?
                .iter()
                .enumerate()
            {
                record_id(contact, &format!("contact_attributes[{i}]"))?;
            }
        }
        ActionId::AccountsBulkUpdate if !args.has("account_attributes") => {
            ids_for_all(args, "account_ids", "account_attributes", "accounts", 1000)?;
        }
        ActionId::AccountsBulkUpdate => {
            for (i, account) in records(args, "account_attributes", "accounts")?
                .iter()
                .enumerate()
            {
                record_id(account, &format!("account_attributes[{i}]"))?;
            }
        }
        ActionId::ContactsUpdateStages => {
            ids_and(
                args,
                "contact_ids",
                "contacts to move",
                "contact_stage_id",
                "the stage to move them to",
            )?;
        }
        ActionId::ContactsUpdateOwners => {
            ids_and(
                args,
                "contact_ids",
                "contacts to reassign",
                "owner_id",
                "the Apollo user id of the new owner",
            )?;
        }
        ActionId::AccountsUpdateOwners => {
            ids_and(
                args,
                "account_ids",
                "accounts to reassign",
                "owner_id",
                "the Apollo user id of the new owner",
            )?;
        }
        ActionId::SequencesRemoveContacts => {
            if args.list("emailer_campaign_ids").is_empty() {
                invalid(
                    "'emailer_campaign_ids' is required: the ids of the sequences to change the contacts in.",
                )?;
            }
            if args.list("contact_ids").is_empty() {
                invalid(
                    "'contact_ids' is required: the ids of the contacts whose status to change.",
                )?;
            }
            if !any_present(args, &["mode"]) {
                invalid("'mode' is required: remove, stop or mark_as_finished.")?;
            }
            one_of(args, "mode", SEQUENCE_MODES)?;
        }
        ActionId::CallsCreate | ActionId::CallsUpdate => {
            one_of(args, "status", CALL_STATUSES)?;
            for key in ["start_time", "end_time"] {
                match args.value().get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(t)) if is_iso8601(t) => {}
                    Some(_) => invalid(format!(
                        "'{key}' must be an ISO 8601 date and time, such as 2025-07-01T09:00:00Z."
                    ))?,
                }
            }
        }
    }
    Ok(())
}

/// A bulk update's other form: the same fields for every id of `ids` (1 to `limit`).
fn ids_for_all(
    args: &Args,
    ids: &str,
    attributes: &str,
    noun: &str,
    limit: usize,
) -> Result<(), Invalid> {
    let given = args.list(ids);
    if given.is_empty() {
        return invalid(format!(
            "Say which {noun} to change: '{attributes}' (each with its 'id' and fields) or '{ids}' with the fields for all of them."
        ));
    }
    if given.len() > limit {
        return invalid(format!(
            "'{ids}' has {} {noun}; Apollo changes at most {limit} in one call, so split them.",
            given.len()
        ));
    }
    if let Some(bad) = given.iter().find(|id| !valid_path_id(id)) {
        return invalid(format!(
            "'{ids}' holds '{}', which is not an Apollo id.",
            shorten(bad)
        ));
    }
    Ok(())
}

/// The fields a task needs, with `contacts` naming the contact (or contacts) it is for.
fn task_required(args: &Args, contacts: &'static str) -> Result<(), Invalid> {
    let needed = ["user_id", contacts, "type", "status", "due_at"];
    let missing: Vec<&str> = needed
        .into_iter()
        .filter(|k| !any_present(args, &[k]))
        .collect();
    if !missing.is_empty() {
        invalid(format!(
            "A task needs 'user_id', '{contacts}', 'type', 'status' and 'due_at': {} missing.",
            quote_list(&missing)
        ))?;
    }
    Ok(())
}

/// Apollo's enumerations of a task, and its due date.
fn task_fields(args: &Args) -> Result<(), Invalid> {
    one_of(args, "type", TASK_TYPES)?;
    one_of(args, "status", TASK_STATUSES)?;
    one_of(args, "priority", TASK_PRIORITIES)?;
    match args.str("due_at") {
        Some(d) if is_iso8601(d) => Ok(()),
        _ => invalid("'due_at' must be an ISO 8601 date and time, such as 2025-07-01T09:00:00Z."),
    }
}

/// The records of a bulk call under `key`: a list of 1 to 100 objects.
fn records<'a>(
    args: &'a Args,
    key: &str,
    noun: &str,
) -> Result<Vec<&'a serde_json::Map<String, Value>>, Invalid> {
    let items = match args.value().get(key) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => {
            return invalid(format!(
                "'{key}' is required: a list of 1 to {BULK_LIMIT} {noun}."
            ));
        }
        Some(_) => {
            return invalid(format!(
                "'{key}' must be a list of {noun} (objects), 1 to {BULK_LIMIT} of them."
            ));
        }
    };
    if items.is_empty() {
        invalid(format!("'{key}' is empty; send 1 to {BULK_LIMIT} {noun}."))?;
    }
    if items.len() > BULK_LIMIT {
        invalid(format!(
            "'{key}' has {} {noun}; Apollo takes at most {BULK_LIMIT} per call, so split them into calls of {BULK_LIMIT}.",
            items.len()
        ))?;
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(m) => Ok(m),
            _ => invalid(format!("{key}[{i}] must be an object.")),
        })
        .collect()
}

fn record_id(record: &serde_json::Map<String, Value>, at: &str) -> Result<(), Invalid> {
    match record.get("id") {
        Some(Value::String(id)) if valid_path_id(id) => Ok(()),
        _ => invalid(format!(
            "{at} needs an 'id': the Apollo id of the record to change (1 to 64 letters, digits, '_' or '-')."
        )),
    }
}

fn ids_and(args: &Args, ids: &str, what: &str, key: &str, of: &str) -> Result<(), Invalid> {
    if args.list(ids).is_empty() {
        invalid(format!("'{ids}' is required: the ids of the {what}."))?;
    }
    if !any_present(args, &[key]) {
        invalid(format!("'{key}' is required: {of}."))?;
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} and {last} are", rest.join(", "))
        }
        Some((last, _)) => format!("{last} is"),
        None => String::new(),
    }
}

/// Present and not blank: a non-empty string, a number, a bool, or a non-empty list.
fn present(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_) | Value::Bool(_)) => true,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Null) | None => false,
    }
}

fn any_present(args: &Args, keys: &[&str]) -> bool {
    keys.iter().any(|k| present(args.value().get(*k)))
}

fn range(args: &Args, key: &str, min: u64, max: u64, why: &str) -> Result<(), Invalid> {
    match args.u64(key) {
        Ok(None) => Ok(()),
        Ok(Some(n)) if (min..=max).contains(&n) => Ok(()),
        Ok(Some(n)) => invalid(format!(
            "'{key}' is {n}; it must be between {min} and {max} ({why})."
        )),
        Err(e) => invalid(format!("{e} It must be between {min} and {max}.")),
    }
}

fn sort_field(args: &Args, allowed: &[&str]) -> Result<(), Invalid> {
    one_of(args, "sort_by_field", allowed)
}

fn one_of(args: &Args, key: &str, allowed: &[&str]) -> Result<(), Invalid> {
    match args.value().get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(v) => {
            let given = match v {
                Value::String(s) => shorten(s),
                other => shorten(&other.to_string()),
            };
            invalid(format!(
                "'{key}' cannot be '{given}'; use one of: {}.",
                allowed.join(", ")
            ))
        }
    }
}

/// Apollo identifies a person by id, email, hashed_email, linkedin_url, name, or
/// first_name + last_name with organization_name or domain.
fn person_identified(person: &serde_json::Map<String, Value>, prefix: &str) -> Result<(), Invalid> {
    let has = |k: &str| present(person.get(k));
    let direct = ["id", "email", "hashed_email", "linkedin_url", "name"]
        .iter()
        .any(|k| has(k));
    let by_name =
        has("first_name") && has("last_name") && (has("organization_name") || has("domain"));
    if direct || by_name {
        Ok(())
    } else {
        invalid(format!(
            "{prefix}Say who to enrich: an 'id', 'email', 'hashed_email', 'linkedin_url' or 'name', or 'first_name' and 'last_name' with 'organization_name' or 'domain'."
        ))
    }
}

fn webhook_when_needed(args: &Args) -> Result<(), Invalid> {
    let needs: Vec<&str> = [
        "reveal_phone_number",
        "run_waterfall_email",
        "run_waterfall_phone",
    ]
    .into_iter()
    .filter(|f| args.flag(f))
    .collect();
    if !needs.is_empty() && !args.has("webhook_url") {
        invalid(format!(
            "'webhook_url' is required with {}: Apollo delivers those results later, by POST to that URL.",
            needs
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" and ")
        ))?;
    }
    Ok(())
}

fn webhook_url(args: &Args) -> Result<(), Invalid> {
    let url = args.str("webhook_url").unwrap_or_default();
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host = rest
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let ok = url.len() <= 2048
        && !host.is_empty()
        && !host.contains('@')
        && url.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        invalid(
            "'webhook_url' must be an http or https URL with a host, such as https://hooks.example.com/apollo.",
        )
    }
}

fn deal_fields(args: &Args) -> Result<(), Invalid> {
    match args.value().get("amount") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(_) => {
            invalid("'amount' must be a whole number written as digits, such as \"50000\".")?
        }
    }
    match args.value().get("closed_date") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if is_date(s) => Ok(()),
        Some(_) => invalid("'closed_date' must be a date written YYYY-MM-DD, such as 2025-12-31."),
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) => {
            digits(y, 4).is_some()
                && digits(m, 2).is_some_and(|m| (1..=12).contains(&m))
                && digits(d, 2).is_some_and(|d| (1..=31).contains(&d))
        }
        _ => false,
    }
}

/// `YYYY-MM-DD`, or that with `THH:MM[:SS[.fff]]` and an optional `Z` or `±HH:MM`.
fn is_iso8601(s: &str) -> bool {
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    if !is_date(date) {
        return false;
    }
    let Some(time) = time else { return true };
    let (clock, zone) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, None)
    } else if let Some(i) = time.rfind(['+', '-']) {
        (time.get(..i).unwrap_or_default(), time.get(i + 1..))
    } else {
        (time, None)
    };
    if let Some(zone) = zone {
        let ok = match zone.split_once(':') {
            Some((h, m)) => {
                digits(h, 2).is_some_and(|h| h <= 23) && digits(m, 2).is_some_and(|m| m <= 59)
            }
            None => digits(zone, 4).is_some() || digits(zone, 2).is_some(),
        };
        if !ok {
            return false;
        }
    }
    let (hms, fraction) = match clock.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let mut parts = hms.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(m), sec, None) => {
            digits(h, 2).is_some_and(|h| h <= 23)
                && digits(m, 2).is_some_and(|m| m <= 59)
                && sec.is_none_or(|s| digits(s, 2).is_some_and(|s| s <= 60))
                && (sec.is_some() || fraction.is_none())
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
