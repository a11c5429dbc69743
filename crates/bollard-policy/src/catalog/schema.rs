//! The JSON Schema of each action's arguments, as `apollo-api.md` lists them, and the
//! enumerations Apollo accepts.

use super::ActionId;
use serde_json::{Value, json};

fn string_list(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

fn paging() -> [(&'static str, Value); 2] {
    [
        (
            "page",
            json!({"type": "integer", "minimum": 1, "maximum": 500, "description": "Page number, from 1 (at most 500)."}),
        ),
        (
            "per_page",
            json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Results per page, at most 100 (default 25)."}),
        ),
    ]
}

fn reveal_flags() -> [(&'static str, Value); 5] {
    [
        (
            "reveal_personal_emails",
            json!({"type": "boolean", "description": "Reveal personal emails (extra credits; needs the reveal grant)."}),
        ),
        (
            "reveal_phone_number",
            json!({"type": "boolean", "description": "Reveal phone numbers, delivered later to webhook_url (8 extra credits per person; needs the reveal grant)."}),
        ),
        (
            "run_waterfall_email",
            json!({"type": "boolean", "description": "Run third-party waterfall enrichment for emails (extra credits; needs the waterfall grant; needs webhook_url)."}),
        ),
        (
            "run_waterfall_phone",
            json!({"type": "boolean", "description": "Run third-party waterfall enrichment for phones (extra credits; needs the waterfall grant; needs webhook_url)."}),
        ),
        (
            "webhook_url",
            json!({"type": "string", "format": "uri", "description": "Where Apollo posts phone numbers and waterfall results (http or https)."}),
        ),
    ]
}

fn person_identifiers() -> [(&'static str, Value); 9] {
    let s = |d: &str| json!({"type": "string", "description": d});
    [
        ("id", s("Apollo person id.")),
        ("email", s("Work email.")),
        ("hashed_email", s("MD5 or SHA-256 hash of the email.")),
        ("linkedin_url", s("LinkedIn profile URL.")),
        ("name", s("Full name (with organization_name or domain).")),
        (
            "first_name",
            s("First name (with last_name and organization_name or domain)."),
        ),
        ("last_name", s("Last name.")),
        ("organization_name", s("Company name.")),
        ("domain", s("Company domain, without www.")),
    ]
}

fn obj(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn enumerated(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn contact_fields() -> Vec<(&'static str, Value)> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        ("first_name", s("First name.")),
        ("last_name", s("Last name.")),
        ("organization_name", s("Company name.")),
        ("title", s("Job title.")),
        ("account_id", s("Apollo account id.")),
        ("email", s("Email address.")),
        ("website_url", s("Company website.")),
        (
            "label_names",
            string_list("Lists to put the contact in (replaces them on update)."),
        ),
        ("contact_stage_id", s("Contact stage id.")),
        ("present_raw_address", s("Address as free text.")),
        ("direct_phone", s("Direct phone.")),
        ("corporate_phone", s("Corporate phone.")),
        ("mobile_phone", s("Mobile phone.")),
        ("home_phone", s("Home phone.")),
        ("other_phone", s("Other phone.")),
        (
            "typed_custom_fields",
            json!({"type": "object", "description": "Custom fields by id."}),
        ),
    ]
}

fn account_fields() -> Vec<(&'static str, Value)> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        ("name", s("Company name.")),
        ("domain", s("Company domain, without www.")),
        ("owner_id", s("Apollo user id of the owner.")),
        ("account_stage_id", s("Account stage id.")),
        ("phone", s("Phone.")),
        ("raw_address", s("Address as free text.")),
        (
            "typed_custom_fields",
            json!({"type": "object", "description": "Custom fields by id."}),
        ),
    ]
}

fn deal_fields() -> Vec<(&'static str, Value)> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        ("name", s("Deal name.")),
        ("owner_id", s("Apollo user id of the owner.")),
        ("account_id", s("Apollo account id.")),
        (
            "amount",
            json!({"type": "string", "pattern": "^[0-9]+$", "description": "Amount, digits only."}),
        ),
        ("opportunity_stage_id", s("Deal stage id.")),
        (
            "closed_date",
            json!({"type": "string", "format": "date", "description": "YYYY-MM-DD."}),
        ),
        (
            "typed_custom_fields",
            json!({"type": "object", "description": "Custom fields by id."}),
        ),
    ]
}

fn call_fields() -> Vec<(&'static str, Value)> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        (
            "logged",
            json!({"type": "boolean", "description": "Create an individual record for the call."}),
        ),
        ("user_id", string_list("The caller (Apollo user ids).")),
        ("contact_id", s("The contact called.")),
        ("account_id", s("The account the call is about.")),
        ("to_number", s("The number dialled.")),
        ("from_number", s("The number that dialled.")),
        ("status", enumerated(CALL_STATUSES, "The call's status.")),
        (
            "start_time",
            json!({"type": "string", "format": "date-time", "description": "ISO 8601."}),
        ),
        (
            "end_time",
            json!({"type": "string", "format": "date-time", "description": "ISO 8601."}),
        ),
        (
            "duration",
            json!({"type": "integer", "minimum": 0, "description": "Seconds."}),
        ),
        ("phone_call_purpose_id", s("Call purpose id.")),
        ("phone_call_outcome_id", s("Call outcome id.")),
        ("note", s("Note.")),
    ]
}

fn task_fields() -> Vec<(&'static str, Value)> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        ("user_id", s("Apollo user id of the task's owner.")),
        ("contact_id", s("Apollo contact id.")),
        ("type", enumerated(TASK_TYPES, "Task type.")),
        (
            "status",
            enumerated(
                TASK_STATUSES,
                "scheduled; completed or skipped for past tasks.",
            ),
        ),
        (
            "due_at",
            json!({"type": "string", "format": "date-time", "description": "ISO 8601."}),
        ),
        ("priority", enumerated(TASK_PRIORITIES, "Priority.")),
        ("title", s("Title.")),
        ("note", s("Note.")),
    ]
}

/// The most records one bulk create or update takes (Apollo's contacts and accounts
/// reference: "up to 100").
pub(crate) const BULK_LIMIT: usize = 100;

/// The `properties` object and the `required` names of an action's arguments.
pub(super) fn arguments_of(id: ActionId) -> (Value, Vec<&'static str>) {
    let s = |d: &str| json!({"type": "string", "description": d});
    let b = |d: &str| json!({"type": "boolean", "description": d});
    let mut props: Vec<(&'static str, Value)> = Vec::new();
    let mut required: Vec<&'static str> = Vec::new();
    match id {
        ActionId::PeopleSearch => {
            props.extend([
                ("person_titles", string_list("Job titles, e.g. \"VP Sales\".")),
                ("include_similar_titles", b("Also match similar titles.")),
                ("q_keywords", s("Keywords.")),
                ("person_locations", string_list("Where the people live.")),
                (
                    "person_seniorities",
                    json!({"type": "array", "items": {"type": "string", "enum": ["owner", "founder", "c_suite", "partner", "vp", "head", "director", "manager", "senior", "entry", "intern"]}}),
                ),
                ("organization_locations", string_list("Company headquarters locations.")),
                (
                    "q_organization_domains_list",
                    json!({"type": "array", "items": {"type": "string"}, "maxItems": 1000, "description": "Company domains, at most 1000."}),
                ),
                ("organization_ids", string_list("Apollo organization ids.")),
                ("contact_email_status", string_list("Email statuses.")),
                ("organization_num_employees_ranges", string_list("Ranges such as \"1,10\".")),
                (
                    "revenue_range",
                    json!({"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}),
                ),
            ]);
            props.extend(paging());
        }
        ActionId::PeopleEnrich => {
            props.extend(person_identifiers());
            props.extend(reveal_flags());
        }
        ActionId::PeopleBulkEnrich => {
            props.push((
                "details",
                json!({"type": "array", "minItems": 1, "maxItems": 10,
                       "items": {"type": "object", "properties": obj(person_identifiers())},
                       "description": "Up to 10 people, each identified as for single enrichment."}),
            ));
            props.extend(reveal_flags());
            required.push("details");
        }
        ActionId::OrganizationsSearch => {
            props.extend([
                (
                    "q_organization_domains_list",
                    json!({"type": "array", "items": {"type": "string"}, "maxItems": 1000, "description": "Company domains, at most 1000."}),
                ),
                ("organization_num_employees_ranges", string_list("Ranges such as \"1,10\".")),
                ("organization_locations", string_list("Headquarters locations.")),
                ("organization_not_locations", string_list("Locations to exclude.")),
                (
                    "revenue_range",
                    json!({"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}),
                ),
                ("q_organization_keyword_tags", string_list("Keyword tags.")),
                ("q_organization_name", s("Company name.")),
                ("organization_ids", string_list("Apollo organization ids.")),
            ]);
            props.extend(paging());
        }
        ActionId::OrganizationsEnrich => {
            props.extend([
                ("domain", s("Company domain, without www.")),
                ("linkedin_url", s("LinkedIn company URL.")),
                ("name", s("Company name.")),
                ("website", s("Company website.")),
            ]);
        }
        ActionId::ContactsCreate => {
            props.extend(contact_fields());
            props.push((
                "run_dedupe",
                b("Update a matching contact instead of creating a duplicate."),
            ));
        }
        ActionId::ContactsUpdate => props.extend(contact_fields()),
        ActionId::ContactsSearch => {
            props.extend([
                ("q_keywords", s("Keywords.")),
                ("contact_stage_ids", string_list("Contact stage ids.")),
                ("contact_label_ids", string_list("List ids.")),
                ("sort_by_field", enumerated(CONTACT_SORTS, "Sort field.")),
                ("sort_ascending", b("Sort ascending.")),
            ]);
            props.extend(paging());
        }
        ActionId::AccountsCreate => props.extend(account_fields()),
        ActionId::AccountsUpdate => props.extend(account_fields()),
        ActionId::AccountsSearch => {
            props.extend([
                ("q_organization_name", s("Company name.")),
                ("account_stage_ids", string_list("Account stage ids.")),
                ("account_label_ids", string_list("List ids.")),
                ("sort_by_field", enumerated(ACCOUNT_SORTS, "Sort field.")),
                ("sort_ascending", b("Sort ascending.")),
            ]);
            props.extend(paging());
        }
        ActionId::SequencesSearch => {
            props.push(("q_name", s("Sequence name.")));
            props.extend(paging());
        }
        ActionId::SequencesAddContacts => {
            props.extend([
                (
                    "emailer_campaign_id",
                    s("The sequence id again; must equal sequence_id."),
                ),
                ("contact_ids", string_list("Contacts to add.")),
                (
                    "label_names",
                    string_list("Lists whose contacts to add (instead of contact_ids)."),
                ),
                (
                    "send_email_from_email_account_id",
                    s("The email account that sends."),
                ),
                ("sequence_no_email", b("Add contacts without an email.")),
                (
                    "sequence_unverified_email",
                    b("Add contacts with unverified emails."),
                ),
                ("sequence_job_change", b("Add contacts who changed jobs.")),
                (
                    "sequence_active_in_other_campaigns",
                    b("Add contacts active in other sequences."),
                ),
                (
                    "sequence_finished_in_other_campaigns",
                    b("Add contacts finished in other sequences."),
                ),
                ("user_id", s("Apollo user id the contacts are added for.")),
                (
                    "status",
                    enumerated(&["active", "paused"], "Status of the added contacts."),
                ),
            ]);
            required.push("send_email_from_email_account_id");
        }
        ActionId::TasksCreate => {
            props.extend(task_fields());
            required.extend(["user_id", "contact_id", "type", "status", "due_at"]);
        }
        ActionId::TasksSearch => {
            props.extend([
                ("sort_by_field", enumerated(TASK_SORTS, "Sort field.")),
                ("open_factor_names", string_list("Open factor names.")),
            ]);
            props.extend(paging());
        }
        ActionId::DealsCreate => {
            props.extend(deal_fields());
            required.push("name");
        }
        ActionId::DealsUpdate => props.extend(deal_fields()),
        ActionId::DealsList => {
            props.extend([
                ("sort_by_field", enumerated(DEAL_SORTS, "Sort field.")),
                ("q_opportunity_name", s("Deal name.")),
            ]);
            props.extend(paging());
        }
        ActionId::UsersList => props.extend(paging()),
        ActionId::UsersUsageStats => {}
        ActionId::PeopleView
        | ActionId::OrganizationsView
        | ActionId::ContactsView
        | ActionId::AccountsView
        | ActionId::DealsView
        | ActionId::ContactsStages
        | ActionId::ContactsCustomFields
        | ActionId::AccountsStages
        | ActionId::SequencesEmailAccounts
        | ActionId::DealsStages
        | ActionId::UsersAuthHealth => {}
        ActionId::OrganizationsBulkEnrich => {
            props.push((
                "domains",
                json!({"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string"},
                       "description": "Up to 10 company domains, without www."}),
            ));
            required.push("domains");
        }
        ActionId::OrganizationsJobPostings => props.extend(paging()),
        ActionId::OrganizationsNews => {
            props.extend([
                (
                    "organization_ids",
                    json!({"type": "array", "minItems": 1, "items": {"type": "string"},
                           "description": "Apollo organization ids whose news to search (required)."}),
                ),
                ("categories", string_list("News categories, such as hires or investment.")),
                (
                    "published_at",
                    json!({"type": "object", "properties": {"min": {"type": "string", "format": "date"}, "max": {"type": "string", "format": "date"}},
                           "description": "Publication dates, YYYY-MM-DD."}),
                ),
            ]);
            props.extend(paging());
            required.push("organization_ids");
        }
        ActionId::ContactsBulkCreate => {
            let mut one = contact_fields();
            one.push((
                "run_dedupe",
                b("Match existing contacts instead of duplicating them."),
            ));
            props.push((
                "contacts",
                json!({"type": "array", "minItems": 1, "maxItems": BULK_LIMIT,
                       "items": {"type": "object", "properties": obj(one)},
                       "description": "Up to 100 contacts, each with the fields of a single create."}),
            ));
            required.push("contacts");
        }
        ActionId::ContactsBulkUpdate => {
            let mut one = contact_fields();
            one.insert(0, ("id", s("The contact's Apollo id.")));
            props.push((
                "contact_attributes",
                json!({"type": "array", "minItems": 1, "maxItems": BULK_LIMIT,
                       "items": {"type": "object", "properties": obj(one), "required": ["id"]},
                       "description": "Up to 100 contacts: each its id and the fields to change. Or leave it out and send contact_ids with the fields for all of them."}),
            ));
            props.push((
                "contact_ids",
                json!({"type": "array", "items": {"type": "string"}, "maxItems": BULK_LIMIT,
                       "description": "Up to 100 contacts that all get the fields sent beside this list (when contact_attributes is not sent)."}),
            ));
            props.extend(contact_fields());
        }
        ActionId::ContactsUpdateStages => {
            props.extend([
                ("contact_ids", string_list("Contacts to move.")),
                ("contact_stage_id", s("The contact stage to move them to.")),
            ]);
            required.extend(["contact_ids", "contact_stage_id"]);
        }
        ActionId::ContactsUpdateOwners => {
            props.extend([
                ("contact_ids", string_list("Contacts to reassign.")),
                ("owner_id", s("Apollo user id of the new owner.")),
            ]);
            required.extend(["contact_ids", "owner_id"]);
        }
        ActionId::ContactsLabels => {}
        ActionId::AccountsBulkCreate => {
            props.push((
                "accounts",
                json!({"type": "array", "minItems": 1, "maxItems": BULK_LIMIT,
                       "items": {"type": "object", "properties": obj(account_fields())},
                       "description": "Up to 100 accounts, each with a name or a domain."}),
            ));
            required.push("accounts");
        }
        ActionId::AccountsBulkUpdate => {
            let mut one = account_fields();
            one.insert(0, ("id", s("The account's Apollo id.")));
            props.push((
                "account_attributes",
                json!({"type": "array", "minItems": 1, "maxItems": BULK_LIMIT,
                       "items": {"type": "object", "properties": obj(one), "required": ["id"]},
                       "description": "Up to 100 accounts: each its id and the fields to change. Or leave it out and send account_ids with the fields for all of them."}),
            ));
            props.push((
                "account_ids",
                json!({"type": "array", "items": {"type": "string"}, "maxItems": 1000,
                       "description": "Up to 1000 accounts that all get the fields sent beside this list (when account_attributes is not sent)."}),
            ));
            props.extend(account_fields());
        }
        ActionId::AccountsUpdateOwners => {
            props.extend([
                ("account_ids", string_list("Accounts to reassign.")),
                ("owner_id", s("Apollo user id of the new owner.")),
            ]);
            required.extend(["account_ids", "owner_id"]);
        }
        ActionId::SequencesRemoveContacts => {
            props.extend([
                ("emailer_campaign_ids", string_list("Sequences to change the contacts in.")),
                ("contact_ids", string_list("Contacts whose status to change.")),
                (
                    "mode",
                    enumerated(SEQUENCE_MODES, "remove takes them out; stop pauses them; mark_as_finished marks them finished."),
                ),
            ]);
            required.extend(["emailer_campaign_ids", "contact_ids", "mode"]);
        }
        ActionId::CallsCreate | ActionId::CallsUpdate => props.extend(call_fields()),
        ActionId::CallsSearch => {
            props.extend([
                ("date_range", json!({"type": "object", "properties": {"min": {"type": "string", "format": "date"}, "max": {"type": "string", "format": "date"}}, "description": "Call dates, YYYY-MM-DD."})),
                ("user_ids", string_list("Callers (Apollo user ids).")),
                ("contact_label_ids", string_list("Lists of the called contacts.")),
                ("q_keywords", s("Keywords.")),
            ]);
            props.extend(paging());
        }
        ActionId::UsersProfile => props.push((
            "include_credit_usage",
            b("Also return the user's and the team's credit usage and balances."),
        )),
        ActionId::SequencesEmails => {
            props.extend([
                ("emailer_campaign_ids", string_list("Only emails of these sequences.")),
                ("not_emailer_campaign_ids", string_list("Not emails of these sequences.")),
                ("user_ids", string_list("Only emails sent by these teammates.")),
                ("emailer_message_stats", string_list("Statuses, such as delivered, opened, clicked, bounced.")),
                ("emailer_message_reply_classes", string_list("Reply sentiments, such as willing_to_meet.")),
                ("not_sent_reason_cds", string_list("Reasons an email was not sent.")),
                ("email_account_id_and_aliases", s("A sending mailbox and its aliases.")),
                ("emailer_message_date_range_mode", s("Which date the range applies to, such as due_at or completed_at.")),
                ("emailer_message_date_range", json!({"type": "object", "properties": {"min": {"type": "string", "format": "date"}, "max": {"type": "string", "format": "date"}}, "description": "Dates, YYYY-MM-DD."})),
                ("q_keywords", s("Keywords.")),
            ]);
            props.extend(paging());
        }
        ActionId::SequencesSendNow => props.push((
            "surface",
            s("Where in Apollo the send starts from, for Apollo's own attribution (optional)."),
        )),
        ActionId::SequencesEmailStats
        | ActionId::SequencesActivate
        | ActionId::SequencesDeactivate
        | ActionId::SequencesArchive
        | ActionId::TasksView
        | ActionId::DealsContactDeals
        | ActionId::PeopleWebhookResult => {}
        ActionId::TasksUpdate => props.extend(
            task_fields()
                .into_iter()
                .filter(|(k, _)| *k != "contact_id"),
        ),
        ActionId::TasksComplete | ActionId::TasksSkip => {
            props.push(("note", s("A note to keep with the task.")));
        }
        ActionId::TasksBulkCreate => {
            props.extend(
                task_fields()
                    .into_iter()
                    .filter(|(k, _)| *k != "contact_id"),
            );
            props.push((
                "contact_ids",
                json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": BULK_LIMIT,
                       "description": "Up to 100 contacts: one task is created for each."}),
            ));
            required.extend(["user_id", "contact_ids", "type", "status", "due_at"]);
        }
        ActionId::ContactsNotes => {
            props.extend([
                ("contact_id", s("Notes of this contact.")),
                ("account_id", s("Notes of this account.")),
                ("opportunity_id", s("Notes of this deal.")),
                ("calendar_event_id", s("Notes of this calendar event.")),
                ("conversation_id", s("Notes of this conversation.")),
                ("contact_ids", string_list("Notes of these contacts.")),
                ("conversation_ids", string_list("Notes of these conversations.")),
                ("start_date", json!({"type": "string", "format": "date", "description": "Notes created on or after this date."})),
                ("sort_by_field", enumerated(NOTE_SORTS, "Sort field (default created_at).")),
                ("sort_direction", enumerated(&["asc", "desc"], "Sort direction (default desc).")),
                ("skip", json!({"type": "integer", "minimum": 0, "description": "Notes to skip."})),
                ("limit", json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Notes to return, at most 100 (default 25)."})),
            ]);
        }
        ActionId::ContactsFields => props.push((
            "source",
            enumerated(FIELD_SOURCES, "Only fields of this source."),
        )),
        ActionId::ContactsCreateField => {
            props.extend([
                ("label", s("The field's name.")),
                ("modality", enumerated(FIELD_MODALITIES, "Which records get the field.")),
                ("type", enumerated(FIELD_TYPES, "What the field holds.")),
                ("meta", json!({"type": "object", "description": "Options: max_length, picklist_values."})),
            ]);
            required.extend(["label", "modality", "type"]);
        }
        ActionId::ContactsUpdateFields => {
            props.push((
                "fields",
                json!({"type": "array", "minItems": 1,
                       "items": {"type": "object", "required": ["id"], "properties": {
                           "id": {"type": "string", "description": "The field's id (from the list of fields)."},
                           "label": {"type": "string", "description": "A new name."},
                           "meta": {"type": "object", "description": "max_length, picklist_values."}}},
                       "description": "The custom fields to change, each by id."}),
            ));
            required.push("fields");
        }
        ActionId::CallsConversations => {
            props.extend([
                ("conversation_type", enumerated(CONVERSATION_TYPES, "Meetings or dialer calls.")),
                ("account_id", s("Conversations about this account.")),
                ("contact_ids", string_list("Conversations with these contacts.")),
                ("organization_ids", string_list("Conversations with these companies.")),
                ("tag_ids", string_list("Conversations with these labels.")),
                ("date_range", json!({"type": "object", "properties": {"start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"}}, "description": "ISO 8601 times."})),
                ("page", json!({"type": "integer", "minimum": 1, "maximum": 500, "description": "Page number, from 1."})),
                ("num_fetch_result", json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Results per page, at most 100."})),
            ]);
        }
        ActionId::CallsConversation | ActionId::UsersCreditUsage | ActionId::SequencesSchedules => {
        }
        ActionId::SequencesEmailContent => {
            props.extend([
                (
                    "ids",
                    string_list("Outreach email ids (from a search of outreach emails)."),
                ),
                (
                    "body_format",
                    enumerated(&["plain", "html"], "The body as plain text or HTML."),
                ),
            ]);
            required.push("ids");
        }
        ActionId::SequencesEmailStatus => {
            props.push(("id", s("The outreach email's id.")));
            required.push("id");
        }
        ActionId::SequencesActivity => {
            props.extend([
                ("contact_id", s("The contact whose sequence activity to read.")),
                ("sequence_id", s("Only this sequence.")),
                ("per_page", json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Events to return, at most 100."})),
            ]);
            required.push("contact_id");
        }
        ActionId::ContactsCreateList => {
            props.extend([
                ("name", s("The list's name.")),
                (
                    "modality",
                    enumerated(LIST_MODALITIES, "Whether it lists contacts or accounts."),
                ),
            ]);
            required.extend(["name", "modality"]);
        }
        ActionId::ContactsUpdateList => {
            props.push(("name", s("The list's new name.")));
            required.push("name");
        }
        ActionId::ContactsAddToLists | ActionId::ContactsRemoveFromLists => {
            props.extend([
                ("entity_ids", string_list("The contacts' or accounts' ids.")),
                ("label_names", string_list("The lists, by name.")),
                (
                    "modality",
                    enumerated(LIST_MODALITIES, "Whether the ids are contacts or accounts."),
                ),
            ]);
            required.extend(["entity_ids", "label_names", "modality"]);
        }
    }
    (obj(props), required)
}

pub(crate) const CONTACT_SORTS: &[&str] = &[
    "contact_last_activity_date",
    "contact_email_last_opened_at",
    "contact_email_last_clicked_at",
    "contact_created_at",
    "contact_updated_at",
];
pub(crate) const ACCOUNT_SORTS: &[&str] = &[
    "account_last_activity_date",
    "account_created_at",
    "account_updated_at",
];
pub(crate) const TASK_SORTS: &[&str] = &["task_due_at", "task_priority"];
pub(crate) const DEAL_SORTS: &[&str] = &["amount", "is_closed", "is_won"];
pub(crate) const TASK_TYPES: &[&str] = &[
    "call",
    "outreach_manual_email",
    "linkedin_step_connect",
    "linkedin_step_message",
    "linkedin_step_view_profile",
    "linkedin_step_interact_post",
    "action_item",
];
pub(crate) const TASK_STATUSES: &[&str] = &["scheduled", "completed", "skipped"];
pub(crate) const TASK_PRIORITIES: &[&str] = &["high", "medium", "low"];
pub(crate) const SEQUENCE_MODES: &[&str] = &["mark_as_finished", "remove", "stop"];
pub(crate) const CALL_STATUSES: &[&str] = &[
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "no_answer",
    "failed",
    "busy",
];
pub(crate) const NOTE_SORTS: &[&str] = &["created_at", "updated_at"];
pub(crate) const FIELD_SOURCES: &[&str] = &["system", "custom", "crm_synced"];
pub(crate) const FIELD_MODALITIES: &[&str] = &["contact", "account", "opportunity"];
pub(crate) const FIELD_TYPES: &[&str] = &[
    "string", "textarea", "number", "date", "datetime", "boolean",
];
pub(crate) const CONVERSATION_TYPES: &[&str] = &["video_conference", "phone_call"];
pub(crate) const LIST_MODALITIES: &[&str] = &["contacts", "accounts"];
