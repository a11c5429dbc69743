//! The team's own records, held in memory: contacts, accounts, sequences and the email
//! accounts that send them, users, tasks and deals. Records are kept as Apollo's JSON
//! objects, so an answer is the record itself and an update is a set of field writes.
//! A fresh team is seeded deterministically from the sandbox's seed.

mod contact;
mod deal;
mod engage;
mod more;
mod outreach;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

pub use contact::{
    create_account, create_contact, search_accounts, search_contacts, update_account,
    update_contact,
};
pub use deal::{create_deal, search_deals, search_users, update_deal};
pub use engage::{add_contacts_to_sequence, create_task, search_sequences, search_tasks};
pub use more::{
    api_profile, bulk_create_accounts, bulk_create_contacts, bulk_update_accounts,
    bulk_update_contacts, create_call, list, remove_or_stop, search_calls, show_account,
    show_contact, show_deal, update_call, update_contact_stages, update_owners,
};
pub use outreach::{
    Switch, activity_feed, bulk_create_tasks, contact_deals, create_field, create_list,
    email_schedules, finish_task, list_fields, list_members, list_notes, message_activities,
    message_content, rename_list, search_conversations, search_messages, send_now, send_status,
    show_conversation, show_task, switch_sequence, update_fields, update_task,
};

use crate::args::Args;
use crate::clock::format_time;
use crate::data::{Database, Rng};
use crate::error::ApiError;

pub type Record = Map<String, Value>;

/// A list of records with an id index.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Record>,
    by_id: HashMap<String, usize>,
}

impl Table {
    pub fn insert(&mut self, record: Record) -> usize {
        let id = text(&record, "id").to_owned();
        self.rows.push(record);
        self.by_id.insert(id, self.rows.len() - 1);
        self.rows.len() - 1
    }

    pub fn get(&self, id: &str) -> Option<&Record> {
        self.by_id.get(id).map(|i| &self.rows[*i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.by_id.get(id).map(|i| &mut self.rows[*i])
    }

    pub fn rows(&self) -> &[Record] {
        &self.rows
    }
}

/// Ids of the seeded records a client needs to make valid calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fixtures {
    pub team_id: String,
    pub user_ids: Vec<String>,
    pub email_account_ids: Vec<String>,
    pub sequence_ids: Vec<String>,
    pub contact_stage_ids: Vec<String>,
    pub account_stage_ids: Vec<String>,
    pub opportunity_stage_ids: Vec<String>,
    pub contact_ids: Vec<String>,
    pub account_ids: Vec<String>,
}

/// The team's records.
#[derive(Debug)]
pub struct Team {
    pub team_id: String,
    rng: Rng,
    pub users: Table,
    pub email_accounts: Table,
    pub sequences: Table,
    pub contact_stages: Table,
    pub account_stages: Table,
    pub opportunity_stages: Table,
    pub labels: Table,
    pub contacts: Table,
    pub accounts: Table,
    pub tasks: Table,
    pub deals: Table,
    pub calls: Table,
    pub custom_fields: Table,
    pub emailer_messages: Table,
    pub conversations: Table,
    pub notes: Table,
}

const USERS: &[(&str, &str, &str)] = &[
    ("Avery", "Morgan", "Head of Sales"),
    ("Jordan", "Lee", "Account Executive"),
    ("Riley", "Chen", "Sales Development Representative"),
    ("Casey", "Patel", "Revenue Operations Manager"),
];
const SEQUENCES: &[(&str, bool, bool, u32)] = &[
    // (name, active, archived, steps)
    ("Outbound - VP Sales", true, false, 5),
    ("Outbound - Engineering Leaders", true, false, 4),
    ("Inbound follow-up", true, false, 3),
    ("Event: SaaStr attendees", false, false, 4),
    ("Re-engage closed lost", true, false, 6),
    ("Old nurture (2023)", false, true, 8),
];
const CONTACT_STAGES: &[&str] = &[
    "Cold",
    "Approaching",
    "Replied",
    "Interested",
    "Not Interested",
    "Unresponsive",
    "Do Not Contact",
    "Bad Data",
    "Changed Job",
];
const ACCOUNT_STAGES: &[&str] = &[
    "Cold",
    "Current Client",
    "Active Opportunity",
    "Churned Client",
    "Do Not Prospect",
];
/// (name, is_closed, is_won, probability)
const OPPORTUNITY_STAGES: &[(&str, bool, bool, u32)] = &[
    ("Qualify", false, false, 10),
    ("Demo Scheduled", false, false, 30),
    ("Negotiation", false, false, 70),
    ("Closed Won", true, true, 100),
    ("Closed Lost", true, false, 0),
];

/// (name, type, modality): the custom fields a fresh team has.
const CUSTOM_FIELDS: &[(&str, &str, &str)] = &[
    ("Lead source detail", "string", "contact"),
    ("Contract renewal date", "date", "account"),
    ("Seats", "number", "opportunity"),
];

impl Team {
    /// A team seeded from `seed`: users, email accounts, sequences, stages, and a few
    /// contacts, accounts, tasks and deals drawn from the prospect database.
    pub fn seeded(seed: u64, db: &Database, now: OffsetDateTime) -> Self {
        let mut rng = Rng::new(seed ^ 0x7EA4_7EA4);
        let team_id = rng.id();
        let mut team = Self {
            team_id,
            rng,
            users: Table::default(),
            email_accounts: Table::default(),
            sequences: Table::default(),
            contact_stages: Table::default(),
            account_stages: Table::default(),
            opportunity_stages: Table::default(),
            labels: Table::default(),
            contacts: Table::default(),
            accounts: Table::default(),
            tasks: Table::default(),
            deals: Table::default(),
            calls: Table::default(),
            custom_fields: Table::default(),
            emailer_messages: Table::default(),
            conversations: Table::default(),
            notes: Table::default(),
        };
        let created = format_time(now - time::Duration::days(90));
        for (first, last, title) in USERS {
            let id = team.new_id();
            let email = format!(
                "{}.{}@sandbox-team.example",
                first.to_lowercase(),
                last.to_lowercase()
            );
            let user = json!({
                "id": id, "team_id": team.team_id, "first_name": first, "last_name": last,
                "name": format!("{first} {last}"), "title": title, "email": email,
                "created_at": created, "credit_limit": 10_000, "direct_dial_credit_limit": 1_000,
                "export_credit_limit": 1_000, "ai_credit_limit": 1_000, "salesforce_account": null,
                "deleted": false, "opt_out_html_template": null,
            });
            team.users.insert(object(user));
            let account_id = team.new_id();
            let account = json!({
                "id": account_id, "user_id": id, "email": email, "type": "gmail",
                "default": true, "active": true, "created_at": created,
            });
            team.email_accounts.insert(object(account));
        }
        let owner = team.first_user_id();
        for (name, active, archived, steps) in SEQUENCES {
            let id = team.new_id();
            let sequence = json!({
                "id": id, "name": name, "archived": archived, "active": active,
                "created_at": created, "num_steps": steps, "user_id": owner,
                "permissions": "team_can_use", "sequence_by_exact_daytime": null,
                "same_account_reply_policy_cd": null, "unique_scheduled": 0, "unique_delivered": 0,
                "unique_bounced": 0, "unique_opened": 0, "unique_replied": 0, "unique_demoed": 0,
                "unique_clicked": 0, "unique_unsubscribed": 0, "bounce_rate": 0.0, "open_rate": 0.0,
                "click_rate": 0.0, "reply_rate": 0.0, "spam_blocked_rate": 0.0, "opt_out_rate": 0.0,
                "demo_rate": 0.0, "label_ids": [], "emailer_schedule_id": null,
            });
            team.sequences.insert(object(sequence));
        }
        for (i, name) in CONTACT_STAGES.iter().enumerate() {
            let stage =
                json!({"id": team.new_id(), "name": name, "display_order": i, "category": null});
            team.contact_stages.insert(object(stage));
        }
        for (i, name) in ACCOUNT_STAGES.iter().enumerate() {
            let stage =
                json!({"id": team.new_id(), "name": name, "display_order": i, "category": null});
            team.account_stages.insert(object(stage));
        }
        for (i, (name, closed, won, probability)) in OPPORTUNITY_STAGES.iter().enumerate() {
            let stage = json!({
                "id": team.new_id(), "name": name, "display_order": i, "is_closed": closed,
                "is_won": won, "probability": probability,
            });
            team.opportunity_stages.insert(object(stage));
        }
        for (name, kind, modality) in CUSTOM_FIELDS {
            let field = json!({
                "id": team.new_id(), "name": name, "type": kind, "modality": modality,
                "picklist_values": [], "created_at": created,
            });
            team.custom_fields.insert(object(field));
        }
        team.seed_records(db, now);
        team
    }

    /// A few contacts, accounts, tasks and deals so searches have something to find.
    fn seed_records(&mut self, db: &Database, now: OffsetDateTime) {
        let step = (db.people.len() / 12).max(1);
        for n in 0..12 {
            let person = &db.people[n * step];
            let org = &db.organizations[person.organization];
            let at = now - time::Duration::days(60 - n as i64 * 4);
            let mut args = Args::default();
            args.insert("first_name", json!(person.first_name));
            args.insert("last_name", json!(person.last_name));
            args.insert("title", json!(db.titles[person.title].text));
            args.insert("organization_name", json!(org.name));
            if let Some(email) = &person.email {
                args.insert("email", json!(email));
            }
            if n % 3 == 0 {
                args.insert("label_names", json!(["Seeded", "Hot lead"]));
            }
            // Seeded input is valid by construction; skip a record rather than fail.
            let _ = create_contact(self, db, &args, at);
            if n % 2 == 0 {
                let mut account = Args::default();
                account.insert("name", json!(org.name));
                account.insert("domain", json!(org.domain));
                account.insert("phone", json!(org.phone.raw));
                let _ = create_account(self, db, &account, at);
            }
        }
        let user = self.first_user_id();
        let contact_ids: Vec<String> = self
            .contacts
            .rows()
            .iter()
            .take(3)
            .map(|c| text(c, "id").to_owned())
            .collect();
        for (n, contact_id) in contact_ids.iter().enumerate() {
            let mut task = Args::default();
            task.insert("user_id", json!(user));
            task.insert("contact_id", json!(contact_id));
            task.insert(
                "type",
                json!(["call", "outreach_manual_email", "linkedin_step_connect"][n]),
            );
            task.insert("status", json!("scheduled"));
            task.insert("priority", json!(["high", "medium", "low"][n]));
            task.insert(
                "due_at",
                json!(format_time(now + time::Duration::days(n as i64 + 1))),
            );
            let _ = create_task(self, &task, now);
        }
        let account_ids: Vec<String> = self
            .accounts
            .rows()
            .iter()
            .take(4)
            .map(|a| text(a, "id").to_owned())
            .collect();
        let stage_ids: Vec<String> = self
            .opportunity_stages
            .rows()
            .iter()
            .map(|s| text(s, "id").to_owned())
            .collect();
        for (n, account_id) in account_ids.iter().enumerate() {
            let mut deal = Args::default();
            deal.insert("name", json!(format!("Sandbox deal {}", n + 1)));
            deal.insert("account_id", json!(account_id));
            deal.insert("amount", json!(((n + 1) * 12_500).to_string()));
            deal.insert(
                "opportunity_stage_id",
                json!(stage_ids[n % stage_ids.len()]),
            );
            let _ = create_deal(self, &deal, now - time::Duration::days(30 - n as i64));
        }
        outreach::seed(self, now);
    }

    pub fn new_id(&mut self) -> String {
        self.rng.id()
    }

    pub fn first_user_id(&self) -> String {
        self.users
            .rows()
            .first()
            .map(|u| text(u, "id").to_owned())
            .unwrap_or_default()
    }

    pub fn fixtures(&self) -> Fixtures {
        let ids = |t: &Table| t.rows().iter().map(|r| text(r, "id").to_owned()).collect();
        Fixtures {
            team_id: self.team_id.clone(),
            user_ids: ids(&self.users),
            email_account_ids: ids(&self.email_accounts),
            sequence_ids: ids(&self.sequences),
            contact_stage_ids: ids(&self.contact_stages),
            account_stage_ids: ids(&self.account_stages),
            opportunity_stage_ids: ids(&self.opportunity_stages),
            contact_ids: ids(&self.contacts),
            account_ids: ids(&self.accounts),
        }
    }

    /// Label ids for names, creating labels that do not exist yet.
    pub fn label_ids(
        &mut self,
        names: &[String],
        modality: &str,
        now: OffsetDateTime,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let existing = self.labels.rows().iter().find(|l| {
                text(l, "name").eq_ignore_ascii_case(name) && text(l, "modality") == modality
            });
            let id = match existing {
                Some(label) => text(label, "id").to_owned(),
                None => {
                    let id = self.new_id();
                    let label = json!({
                        "id": id, "name": name, "modality": modality, "cached_count": 0,
                        "created_at": format_time(now), "updated_at": format_time(now),
                        "user_id": self.first_user_id(),
                    });
                    self.labels.insert(object(label));
                    id
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    pub fn labels_json(&self, ids: &Value) -> Value {
        let ids: Vec<&str> = ids
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        Value::Array(
            ids.iter()
                .filter_map(|id| self.labels.get(id))
                .map(|l| Value::Object(l.clone()))
                .collect(),
        )
    }
}

pub fn object(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub fn text<'a>(record: &'a Record, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Apollo ids are 24 hex digits (MongoDB ObjectIds).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads an id argument, answering Apollo's sentence when it is not an id.
pub fn id_arg(args: &Args, key: &str) -> Result<Option<String>, ApiError> {
    match args.str(key)? {
        None => Ok(None),
        Some(id) if is_valid_id(id.trim()) => Ok(Some(id.trim().to_owned())),
        Some(id) => Err(ApiError::unprocessable(format!(
            "Parameters misconfigured. {id} is not a valid ID"
        ))),
    }
}

/// Sorts records by a field (missing values sort first), descending unless ascending.
pub fn sort_records(rows: &mut [&Record], key: impl Fn(&Record) -> Value, ascending: bool) {
    rows.sort_by(|a, b| {
        let ord = compare(&key(a), &key(b));
        if ascending { ord } else { ord.reverse() }
    });
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// A search answer: Apollo's envelope plus the records under `key`.
pub fn search_answer(
    args: &Args,
    key: &str,
    rows: Vec<&Record>,
    extra: impl FnOnce(&mut Map<String, Value>),
) -> Result<Value, ApiError> {
    let paging = crate::paging::Paging::from_args(args)?;
    let total = rows.len();
    let page: Vec<Value> = rows[paging.range(total)]
        .iter()
        .map(|r| Value::Object((*r).clone()))
        .collect();
    let mut map = paging.envelope(total, Vec::new());
    map.insert(key.to_owned(), Value::Array(page));
    extra(&mut map);
    Ok(Value::Object(map))
}

/// The sort field of a team search, checked against the fields the route allows.
pub fn sort_field<'a>(args: &Args, allowed: &[&'a str]) -> Result<Option<&'a str>, ApiError> {
    match args.str("sort_by_field")? {
        None => Ok(None),
        Some(field) => allowed
            .iter()
            .find(|a| **a == field)
            .map(|a| Some(*a))
            .ok_or_else(|| ApiError::unprocessable("Invalid sort criteria")),
    }
}
