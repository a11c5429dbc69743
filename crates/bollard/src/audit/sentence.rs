//! The sentence of an audit record: who, what (with the few arguments that matter), through
//! which door, the decision and why, and the outcome, in words a person reads without a
//! manual. Personal data (emails, names, phones) never appears in a sentence; companies,
//! titles, places and record ids do.

use bollard_policy::{Action, ActionId, Args};

/// What happened to the call, as far as the sentence needs to know.
#[derive(Debug, Clone)]
pub enum Phase<'a> {
    /// Refused by Bollard; `why` is the refusal's clause, as it reads after "because".
    Denied { why: &'a str },
    /// Allowed and about to be forwarded (the record written before forwarding).
    Allowed,
    /// The dry run: what would happen, and why (a clause) if it would be refused.
    WouldBe { why: Option<&'a str> },
    /// Apollo answered.
    Answered {
        status: u16,
        result: Option<&'a str>,
        credits: f64,
    },
    /// Allowed, but Apollo could not be reached or broke off.
    Failed { why: &'a str },
}

/// Who is calling, for the sentence.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The agent's name, or [`caller_name`] when it called through an OAuth connection.
    Agent(&'a str),
    /// No key, or a key Bollard does not know.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Rest,
    Mcp,
}

impl Door {
    /// As the audit record's `channel` and the log line's `door` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Door::Rest => "rest",
            Door::Mcp => "mcp",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Door::Rest => "over REST",
            Door::Mcp => "over MCP",
        }
    }
}

/// What the call asks for, in the infinitive ("search ...") and the past ("searched ...").
#[derive(Debug, Clone, PartialEq)]
pub struct What {
    pub inf: String,
    pub past: String,
}

fn what(inf: String, past: String) -> What {
    What { inf, past }
}

/// `"VP Sales" or "CTO"`, at most three, then "and N more".
fn quoted(items: &[String], joiner: &str) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(3)
        // Personal data already replaced by the gate reads as prose, not as a search term.
        .map(|s| match super::pii::is_placeholder(s) {
            true => clip(s, 60),
            false => format!("\"{}\"", clip(s, 60)),
        })
        .collect();
    let mut s = shown.join(&format!(" {joiner} "));
    if items.len() > 3 {
        s.push_str(&format!(" and {} more", items.len() - 3));
    }
    s
}

fn plain(items: &[String]) -> String {
    let shown: Vec<String> = items.iter().take(3).map(|s| clip(s, 60)).collect();
    let mut s = match shown.len() {
        0 => String::new(),
        1 => shown.concat(),
        _ => {
            let (last, rest) = shown
                .split_last()
                .map(|(l, r)| (l.clone(), r.to_vec()))
                .unwrap_or_default();
            format!("{} or {last}", rest.join(", "))
        }
    };
    if items.len() > 3 {
        s.push_str(&format!(" and {} more", items.len() - 3));
    }
    s
}

/// The caller of a call made with an OAuth access token (issue 13): the agent, and the
/// connection it came through, named as the person who approved it named it: "Sales Agent
/// (through the connection 'Claude (team workspace)')". Without a connection, the agent alone.
pub fn caller_name(agent: &str, connection: Option<&str>) -> String {
    match connection {
        Some(c) => format!(
            "{} (through the connection '{}')",
            clip(agent, 80),
            clip(c, 100)
        ),
        None => clip(agent, 80),
    }
}

/// Cuts agent-supplied text to a readable length on a character boundary.
fn clip(s: &str, max: usize) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.chars().count() <= max {
        s
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn paging(args: &Args) -> String {
    let page = args.u64("page").ok().flatten().unwrap_or(1);
    let per = args.u64("per_page").ok().flatten().unwrap_or(25);
    format!(" (page {page}, {per} per page)")
}

fn search_terms(args: &Args, keys: &[(&str, &str)]) -> String {
    let mut parts = Vec::new();
    for (key, how) in keys {
        let values = args.list(key);
        if values.is_empty() {
            continue;
        }
        match *how {
            "for" => parts.push(format!("for {}", quoted(&values, "or"))),
            "in" => parts.push(format!("in {}", plain(&values))),
            "at" => parts.push(format!("at {}", plain(&values))),
            "named" => parts.push(format!("named {}", quoted(&values, "or"))),
            "seniority" => parts.push(format!("at {} level", plain(&values))),
            _ => {}
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" "))
    }
}

fn person_target(args: &Args) -> String {
    if let Some(d) = args.str("domain").filter(|s| !s.is_empty()) {
        format!("a person at {}", clip(d, 60))
    } else if let Some(o) = args.str("organization_name").filter(|s| !s.is_empty()) {
        format!("a person at {}", clip(o, 60))
    } else if args.str("email").is_some() || args.str("hashed_email").is_some() {
        "a person by email".into()
    } else if args.str("linkedin_url").is_some() {
        "a person by LinkedIn URL".into()
    } else if let Some(id) = args.str("id") {
        format!("the person {}", clip(id, 40))
    } else {
        "a person".into()
    }
}

fn reveals(args: &Args) -> Option<&'static str> {
    match (
        args.flag("reveal_personal_emails"),
        args.flag("reveal_phone_number"),
    ) {
        (true, true) => Some("personal emails and phone numbers"),
        (true, false) => Some("personal emails"),
        (false, true) => Some("phone numbers"),
        (false, false) => None,
    }
}

fn waterfall(args: &Args) -> &'static str {
    match (
        args.flag("run_waterfall_email"),
        args.flag("run_waterfall_phone"),
    ) {
        (true, true) => " with waterfall enrichment of emails and phones",
        (true, false) => " with waterfall enrichment of emails",
        (false, true) => " with waterfall enrichment of phones",
        (false, false) => "",
    }
}

fn count_noun(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn id_of(path_id: Option<&str>) -> String {
    path_id
        .map(|i| clip(i, 40))
        .unwrap_or_else(|| "(no id)".into())
}

const SEARCH: (&str, &str) = ("search", "searched");

/// "search the team's contacts for \"acme\" (page 1, 25 per page)", and its past.
fn team_search(args: &Args, verb: (&str, &str), noun: &str, keys: &[(&str, &str)]) -> What {
    let t = search_terms(args, keys);
    let p = paging(args);
    what(
        format!("{} the team's {noun}{t}{p}", verb.0),
        format!("{} the team's {noun}{t}{p}", verb.1),
    )
}

/// Describes the call an action makes with these arguments.
pub fn describe(
    action: &Action,
    args: &Args,
    path_id: Option<&str>,
    sequence_name: Option<&str>,
) -> What {
    let id = id_of(path_id);
    match action.id {
        ActionId::PeopleSearch => {
            let t = search_terms(
                args,
                &[
                    ("person_titles", "for"),
                    ("q_keywords", "for"),
                    ("person_seniorities", "seniority"),
                    ("person_locations", "in"),
                    ("q_organization_domains_list", "at"),
                ],
            );
            let p = paging(args);
            what(
                format!("search Apollo's people database{t}{p}"),
                format!("searched Apollo's people database{t}{p}"),
            )
        }
        ActionId::PeopleEnrich | ActionId::PeopleBulkEnrich => {
            let target = if action.id == ActionId::PeopleEnrich {
                person_target(args)
            } else {
                let n = args
                    .value()
                    .get("details")
                    .and_then(|d| d.as_array())
                    .map_or(0, Vec::len);
                format!("{} in bulk", count_noun(n, "person", "people"))
            };
            let w = waterfall(args);
            match reveals(args) {
                Some(r) => what(
                    format!("reveal {r} for {target}{w}"),
                    format!("enriched {target}, revealing {r}{w}"),
                ),
                None => what(
                    format!("enrich {target}{w}"),
                    format!("enriched {target}{w}"),
                ),
            }
        }
        ActionId::OrganizationsSearch => {
            let t = search_terms(
                args,
                &[
                    ("q_organization_name", "named"),
                    ("q_organization_keyword_tags", "for"),
                    ("organization_locations", "in"),
                    ("q_organization_domains_list", "at"),
                ],
            );
            let p = paging(args);
            what(
                format!("search Apollo's company database{t}{p}"),
                format!("searched Apollo's company database{t}{p}"),
            )
        }
        ActionId::OrganizationsEnrich => {
            let which = ["domain", "website", "name", "linkedin_url"]
                .iter()
                .find_map(|k| args.str(k))
                .map(|s| clip(s, 60))
                .unwrap_or_else(|| "(unnamed)".into());
            what(
                format!("enrich the company {which}"),
                format!("enriched the company {which}"),
            )
        }
        ActionId::ContactsCreate => {
            let mut o = String::from("a contact");
            if let Some(org) = args.str("organization_name") {
                o.push_str(&format!(" at {}", clip(org, 60)));
            }
            if let Some(t) = args.str("title") {
                o.push_str(&format!(" titled \"{}\"", clip(t, 60)));
            }
            if args.flag("run_dedupe") {
                o.push_str(", merging it into any duplicate");
            }
            what(format!("create {o}"), format!("created {o}"))
        }
        ActionId::ContactsUpdate => what(
            format!("update the contact {id}"),
            format!("updated the contact {id}"),
        ),
        ActionId::ContactsSearch => team_search(args, SEARCH, "contacts", &[("q_keywords", "for")]),
        ActionId::AccountsSearch => team_search(
            args,
            SEARCH,
            "accounts",
            &[("q_organization_name", "named")],
        ),
        ActionId::SequencesSearch => team_search(args, SEARCH, "sequences", &[("q_name", "named")]),
        ActionId::TasksSearch => team_search(args, SEARCH, "tasks", &[]),
        ActionId::DealsList => team_search(
            args,
            ("list", "listed"),
            "deals",
            &[("q_opportunity_name", "named")],
        ),
        ActionId::AccountsCreate => {
            let name = args
                .str("name")
                .map(|n| format!(" '{}'", clip(n, 60)))
                .unwrap_or_default();
            let domain = args
                .str("domain")
                .map(|d| format!(" ({})", clip(d, 60)))
                .unwrap_or_default();
            what(
                format!("create the account{name}{domain}"),
                format!("created the account{name}{domain}"),
            )
        }
        ActionId::AccountsUpdate => what(
            format!("update the account {id}"),
            format!("updated the account {id}"),
        ),
        ActionId::SequencesAddContacts => {
            let n = args.list("contact_ids").len();
            let who = if n > 0 {
                count_noun(n, "contact", "contacts")
            } else {
                let labels = args.list("label_names");
                format!("the contacts labelled {}", quoted(&labels, "or"))
            };
            let seq = match sequence_name {
                Some(name) => format!("'{}'", clip(name, 60)),
                None => id,
            };
            what(
                format!("add {who} to the sequence {seq}"),
                format!("added {who} to the sequence {seq}"),
            )
        }
        ActionId::TasksCreate => {
            let kind = args
                .str("type")
                .map(|t| t.replace('_', " "))
                .unwrap_or_else(|| "new".into());
            let due = args
                .str("due_at")
                .map(|d| format!(" due {}", clip(d.get(..10).unwrap_or(d), 20)))
                .unwrap_or_default();
            what(
                format!("create a {kind} task{due}"),
                format!("created a {kind} task{due}"),
            )
        }
        ActionId::DealsCreate => {
            let name = args
                .str("name")
                .map(|n| format!(" '{}'", clip(n, 60)))
                .unwrap_or_default();
            let amount = args
                .str("amount")
                .map(|a| format!(" worth {}", clip(a, 20)))
                .unwrap_or_default();
            what(
                format!("create the deal{name}{amount}"),
                format!("created the deal{name}{amount}"),
            )
        }
        ActionId::DealsUpdate => what(
            format!("update the deal {id}"),
            format!("updated the deal {id}"),
        ),
        ActionId::UsersList => what(
            "list the team's users".into(),
            "listed the team's users".into(),
        ),
        ActionId::UsersUsageStats => what(
            "read the team's API usage".into(),
            "read the team's API usage".into(),
        ),
        ActionId::PeopleView => both("view", "viewed", &format!("the person {id}")),
        ActionId::OrganizationsView => both("view", "viewed", &format!("the company {id}")),
        ActionId::ContactsView => both("view", "viewed", &format!("the contact {id}")),
        ActionId::AccountsView => both("view", "viewed", &format!("the account {id}")),
        ActionId::DealsView => both("view", "viewed", &format!("the deal {id}")),
        ActionId::OrganizationsBulkEnrich => {
            let domains = args.list("domains");
            let which = if domains.is_empty() {
                "no companies".to_owned()
            } else {
                format!(
                    "{} ({})",
                    count_noun(domains.len(), "company", "companies"),
                    plain(&domains).replacen(" or ", " and ", 1)
                )
            };
            both("enrich", "enriched", &format!("{which} in bulk"))
        }
        ActionId::OrganizationsJobPostings => {
            let p = paging(args);
            both(
                "list",
                "listed",
                &format!("the job postings of the company {id}{p}"),
            )
        }
        ActionId::OrganizationsNews => {
            let n = args.list("organization_ids").len();
            let t = search_terms(args, &[("categories", "for")]);
            let p = paging(args);
            both(
                "search",
                "searched",
                &format!("news about {}{t}{p}", count_noun(n, "company", "companies")),
            )
        }
        ActionId::ContactsBulkCreate | ActionId::AccountsBulkCreate => {
            let (key, one, many) = if action.id == ActionId::ContactsBulkCreate {
                ("contacts", "contact", "contacts")
            } else {
                ("accounts", "account", "accounts")
            };
            let n = records(args, key);
            both(
                "create",
                "created",
                &format!("{} in bulk", count_noun(n, one, many)),
            )
        }
        ActionId::ContactsBulkUpdate | ActionId::AccountsBulkUpdate => {
            let (key, ids, one, many) = if action.id == ActionId::ContactsBulkUpdate {
                ("contact_attributes", "contact_ids", "contact", "contacts")
            } else {
                ("account_attributes", "account_ids", "account", "accounts")
            };
            let n = records(args, key).max(args.list(ids).len());
            both(
                "update",
                "updated",
                &format!("{} in bulk", count_noun(n, one, many)),
            )
        }
        ActionId::ContactsUpdateStages => {
            let n = args.list("contact_ids").len();
            let stage = args
                .str("contact_stage_id")
                .map(|s| clip(s, 40))
                .unwrap_or_else(|| "(no stage)".into());
            both(
                "move",
                "moved",
                &format!(
                    "{} to the stage {stage}",
                    count_noun(n, "contact", "contacts")
                ),
            )
        }
        ActionId::ContactsUpdateOwners | ActionId::AccountsUpdateOwners => {
            let (key, one, many) = if action.id == ActionId::ContactsUpdateOwners {
                ("contact_ids", "contact", "contacts")
            } else {
                ("account_ids", "account", "accounts")
            };
            let n = args.list(key).len();
            let owner = args
                .str("owner_id")
                .map(|s| clip(s, 40))
                .unwrap_or_else(|| "(no owner)".into());
            both(
                "give",
                "gave",
                &format!("{} to the owner {owner}", count_noun(n, one, many)),
            )
        }
        ActionId::ContactsStages => both("list", "listed", "the contact stages"),
        ActionId::AccountsStages => both("list", "listed", "the account stages"),
        ActionId::DealsStages => both("list", "listed", "the deal stages"),
        ActionId::ContactsLabels => both("list", "listed", "the team's lists"),
        ActionId::ContactsCustomFields => both("list", "listed", "the team's custom fields"),
        ActionId::SequencesEmailAccounts => both("list", "listed", "the team's email accounts"),
        ActionId::SequencesRemoveContacts => {
            let n = args.list("contact_ids").len();
            let s = args.list("emailer_campaign_ids").len();
            let who = count_noun(n, "contact", "contacts");
            let from = match s {
                1 => "a sequence".to_owned(),
                _ => format!("{s} sequences"),
            };
            match args.str("mode") {
                Some("remove") => both("remove", "removed", &format!("{who} from {from}")),
                Some("stop") => both("stop", "stopped", &format!("{from} for {who}")),
                Some("mark_as_finished") => {
                    both("mark", "marked", &format!("{who} as finished in {from}"))
                }
                _ => both(
                    "change",
                    "changed",
                    &format!("the status of {who} in {from}"),
                ),
            }
        }
        ActionId::CallsCreate => {
            let status = args
                .str("status")
                .map(|s| format!(" ({})", clip(&s.replace(['_', '-'], " "), 20)))
                .unwrap_or_default();
            let with = args
                .str("contact_id")
                .map(|c| format!(" with the contact {}", clip(c, 40)))
                .unwrap_or_default();
            both("log", "logged", &format!("a call{with}{status}"))
        }
        ActionId::CallsUpdate => both("update", "updated", &format!("the call {id}")),
        ActionId::CallsSearch => team_search(args, SEARCH, "calls", &[("q_keywords", "for")]),
        ActionId::UsersProfile => {
            let credits = if args.flag("include_credit_usage") {
                " with its credit usage"
            } else {
                ""
            };
            both(
                "read",
                "read",
                &format!("the Apollo profile of the team's key{credits}"),
            )
        }
        ActionId::UsersAuthHealth => both("check", "checked", "that Apollo accepts the team's key"),
        ActionId::SequencesEmails => {
            let s = args.list("emailer_campaign_ids").len();
            let of = match s {
                0 => String::new(),
                1 => " of a sequence".to_owned(),
                _ => format!(" of {s} sequences"),
            };
            let t = search_terms(args, &[("q_keywords", "for")]);
            let p = paging(args);
            both(
                "search",
                "searched",
                &format!("the team's outreach emails{of}{t}{p}"),
            )
        }
        ActionId::SequencesEmailStats => both(
            "check",
            "checked",
            &format!("the stats of the outreach email {id}"),
        ),
        ActionId::SequencesSendNow => both("send", "sent", &format!("the outreach email {id} now")),
        ActionId::SequencesActivate => {
            let seq = sequence_name.map_or_else(|| id.clone(), |n| format!("'{}'", clip(n, 60)));
            both("activate", "activated", &format!("the sequence {seq}"))
        }
        ActionId::SequencesDeactivate => {
            let seq = sequence_name.map_or_else(|| id.clone(), |n| format!("'{}'", clip(n, 60)));
            both("deactivate", "deactivated", &format!("the sequence {seq}"))
        }
        ActionId::SequencesArchive => {
            let seq = sequence_name.map_or_else(|| id.clone(), |n| format!("'{}'", clip(n, 60)));
            both("archive", "archived", &format!("the sequence {seq}"))
        }
        ActionId::TasksView => both("view", "viewed", &format!("the task {id}")),
        ActionId::TasksUpdate => both("update", "updated", &format!("the task {id}")),
        ActionId::TasksComplete => both("complete", "completed", &format!("the task {id}")),
        ActionId::TasksSkip => both("skip", "skipped", &format!("the task {id}")),
        ActionId::TasksBulkCreate => {
            let kind = args
                .str("type")
                .map(|t| format!(" {}", t.replace('_', " ")))
                .unwrap_or_default();
            let n = args.list("contact_ids").len();
            both(
                "create",
                "created",
                &format!(
                    "{}{kind} tasks, one for each contact, in bulk",
                    thousands(n as u64)
                ),
            )
        }
        ActionId::DealsContactDeals => {
            both("list", "listed", &format!("the deals of the contact {id}"))
        }
        ActionId::ContactsNotes => {
            let of = [
                ("contact_id", "the contact"),
                ("account_id", "the account"),
                ("opportunity_id", "the deal"),
                ("conversation_id", "the conversation"),
                ("calendar_event_id", "the calendar event"),
            ]
            .iter()
            .find_map(|(k, noun)| args.str(k).map(|v| format!(" of {noun} {}", clip(v, 40))))
            .unwrap_or_default();
            both("list", "listed", &format!("the notes{of}"))
        }
        ActionId::ContactsFields => {
            let source = args
                .str("source")
                .map(|s| format!(" ({})", clip(&s.replace('_', " "), 20)))
                .unwrap_or_default();
            both("list", "listed", &format!("the team's fields{source}"))
        }
        ActionId::ContactsCreateField => {
            let on = args
                .str("modality")
                .map(|m| format!(" on {}s", clip(m, 20)))
                .unwrap_or_default();
            let label = args
                .str("label")
                .map(|l| format!(" '{}'", clip(l, 60)))
                .unwrap_or_default();
            both("create", "created", &format!("the custom field{label}{on}"))
        }
        ActionId::ContactsUpdateFields => {
            let n = records(args, "fields");
            both(
                "change",
                "changed",
                &count_noun(n, "custom field", "custom fields"),
            )
        }
        ActionId::CallsConversations => {
            let kind = match args.str("conversation_type") {
                Some("phone_call") => "recorded calls",
                Some("video_conference") => "recorded meetings",
                _ => "conversations",
            };
            let p = match args.value().get("page").and_then(serde_json::Value::as_u64) {
                Some(page) => format!(" (page {page})"),
                None => String::new(),
            };
            both("search", "searched", &format!("the team's {kind}{p}"))
        }
        ActionId::CallsConversation => both("view", "viewed", &format!("the conversation {id}")),
        ActionId::PeopleWebhookResult => both(
            "poll",
            "polled",
            &format!("the result of the enrichment request {id}"),
        ),
        ActionId::UsersCreditUsage => both("read", "read", "the team's credit usage"),
        ActionId::SequencesSchedules => both("list", "listed", "the email schedules"),
        ActionId::SequencesEmailContent => {
            let n = args.list("ids").len();
            both(
                "read",
                "read",
                &format!(
                    "the content of {}",
                    count_noun(n, "outreach email", "outreach emails")
                ),
            )
        }
        ActionId::SequencesEmailStatus => {
            let of = args
                .str("id")
                .map(|i| clip(i, 40))
                .unwrap_or_else(|| "(no id)".into());
            both(
                "check",
                "checked",
                &format!("the send status of the outreach email {of}"),
            )
        }
        ActionId::SequencesActivity => {
            let of = args
                .str("contact_id")
                .map(|i| clip(i, 40))
                .unwrap_or_else(|| "(no id)".into());
            both(
                "read",
                "read",
                &format!("the sequence activity of the contact {of}"),
            )
        }
        ActionId::ContactsCreateList => {
            let name = args
                .str("name")
                .map(|n| format!(" '{}'", clip(n, 60)))
                .unwrap_or_default();
            let of = args
                .str("modality")
                .map(|m| format!(" of {}", clip(m, 20)))
                .unwrap_or_default();
            both("create", "created", &format!("the list{name}{of}"))
        }
        ActionId::ContactsUpdateList => {
            let name = args
                .str("name")
                .map(|n| format!(" to '{}'", clip(n, 60)))
                .unwrap_or_default();
            both("rename", "renamed", &format!("the list {id}{name}"))
        }
        ActionId::ContactsAddToLists | ActionId::ContactsRemoveFromLists => {
            let n = args.list("entity_ids").len();
            let noun = match args.str("modality") {
                Some("accounts") => count_noun(n, "account", "accounts"),
                _ => count_noun(n, "contact", "contacts"),
            };
            let names = args.list("label_names");
            let lists = format!(
                "the {} {}",
                if names.len() == 1 { "list" } else { "lists" },
                quoted(&names, "and")
            );
            if action.id == ActionId::ContactsAddToLists {
                both("add", "added", &format!("{noun} to {lists}"))
            } else {
                both("remove", "removed", &format!("{noun} from {lists}"))
            }
        }
    }
}

/// The infinitive and the past of a verb with the same object.
fn both(inf: &str, past: &str, object: &str) -> What {
    what(format!("{inf} {object}"), format!("{past} {object}"))
}

/// How many records a bulk call carries under `key`.
fn records(args: &Args, key: &str) -> usize {
    args.value()
        .get(key)
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len)
}

/// "1 credit", "9 credits", "2.50 credits".
pub fn credits(c: f64) -> String {
    if (c - 1.0).abs() < f64::EPSILON {
        "1 credit".into()
    } else if c.fract() == 0.0 {
        format!("{} credits", c as i64)
    } else {
        format!("{c:.2} credits")
    }
}

/// The longest caller a sentence names: an agent (80) with its connection (100).
const CALLER_MAX: usize = 220;

pub fn sentence(caller: Caller<'_>, door: Door, what: &What, phase: &Phase<'_>) -> String {
    let who = match caller {
        Caller::Agent(name) => clip(name, CALLER_MAX),
        Caller::Unknown => "A caller without a valid key".to_owned(),
    };
    // "Sales Agent, over MCP, asked to ...": the door sits beside the caller, where it reads
    // naturally whatever the rest of the sentence says.
    if let Phase::WouldBe { why } = phase {
        return match why {
            None => format!("If {who} asked to {}, it would be allowed.", what.inf),
            Some(why) => format!(
                "If {who} asked to {}, it would be denied, because {}.",
                what.inf, why
            ),
        };
    }
    let who = format!("{who}, {},", door.phrase());
    match phase {
        Phase::WouldBe { .. } => String::new(),
        Phase::Denied { why } => format!(
            "{who} asked to {}: denied, because {}. Nothing was sent to Apollo.",
            what.inf, why
        ),
        Phase::Allowed => format!(
            "{who} asked to {}: allowed. Sending it to Apollo.",
            what.inf
        ),
        Phase::Answered {
            status,
            result,
            credits: c,
            ..
        } if (200..300).contains(status) => {
            let with = result.map(|r| format!(" with {r}")).unwrap_or_default();
            format!(
                "{who} {}: allowed. Apollo answered {status}{with}; {}.",
                what.past,
                credits(*c)
            )
        }
        Phase::Answered {
            status,
            result,
            credits: c,
            ..
        } => format!(
            "{who} asked to {}: allowed, but Apollo refused it with {status}{}; {}.",
            what.inf,
            result.map(|r| format!(" ({r})")).unwrap_or_default(),
            credits(*c)
        ),
        // `why` is a whole sentence for the agent ("The connection to Apollo broke..."), so it
        // follows a full stop rather than being spliced in after "but".
        Phase::Failed { why } => format!(
            "{who} asked to {}: allowed, but the call failed. {why}",
            what.inf
        ),
    }
}

/// The sentence for a request refused before it became a call (no key on an MCP session,
/// a body over the limit).
pub fn refused_request(
    caller: Caller<'_>,
    door: Door,
    method: &str,
    path: &str,
    why: &str,
) -> String {
    let who = match caller {
        Caller::Agent(name) => clip(name, CALLER_MAX),
        Caller::Unknown => "A caller without a valid key".to_owned(),
    };
    format!(
        "{who}, {}, sent {} {}: denied, because {}. Nothing was sent to Apollo.",
        door.phrase(),
        clip(method, 10),
        clip(path, 100),
        why
    )
}

/// The sentence for a call to a path that is not in the catalog.
pub fn unknown_route(caller: Caller<'_>, door: Door, method: &str, path: &str) -> String {
    let who = match caller {
        Caller::Agent(name) => clip(name, CALLER_MAX),
        Caller::Unknown => "A caller without a valid key".to_owned(),
    };
    format!(
        "{who}, {}, called {} {}, which is not an Apollo action Bollard governs: denied. Nothing was sent to Apollo.",
        door.phrase(),
        clip(method, 10),
        clip(path, 100),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn args(v: Value) -> Args {
        match v {
            Value::Object(m) => Args::from_value(m),
            _ => Args::default(),
        }
    }

    /// A plausible call for each action: (arguments, path id, result of a 200, credits).
    fn sample(id: &str) -> (Value, Option<&'static str>, Option<&'static str>, f64) {
        match id {
            "people.search" => (
                json!({"person_titles": ["VP Sales", "Head of Sales"], "person_locations": ["Austin"], "per_page": 25}),
                None,
                Some("25 of 1,204 people"),
                0.0,
            ),
            "people.enrich" => (
                json!({"first_name": "Ada", "last_name": "Lovelace", "domain": "acme.com", "reveal_phone_number": true, "webhook_url": "https://hooks.example.com/p"}),
                None,
                Some("a match"),
                9.0,
            ),
            "people.bulk_enrich" => (
                json!({"details": [{"email": "a@acme.com"}, {"email": "b@acme.com"}, {"email": "c@acme.com"}]}),
                None,
                Some("2 of 3 matched"),
                2.0,
            ),
            "organizations.search" => (
                json!({"q_organization_keyword_tags": ["fintech"], "organization_locations": ["Texas"], "page": 2}),
                None,
                Some("25 of 310 companies"),
                1.0,
            ),
            "organizations.enrich" => (json!({"domain": "acme.com"}), None, Some("a match"), 1.0),
            "contacts.create" => (
                json!({"first_name": "Ada", "last_name": "Lovelace", "organization_name": "Acme", "title": "CTO", "run_dedupe": true}),
                None,
                None,
                0.0,
            ),
            "contacts.update" => (json!({"title": "CEO"}), Some("66f1c0ffee"), None, 0.0),
            "contacts.search" => (
                json!({"q_keywords": "acme"}),
                None,
                Some("3 of 3 contacts"),
                0.0,
            ),
            "accounts.create" => (
                json!({"name": "Acme", "domain": "acme.com"}),
                None,
                None,
                0.0,
            ),
            "accounts.update" => (json!({"name": "Acme Inc"}), Some("66f1acc0un7"), None, 0.0),
            "accounts.search" => (
                json!({"q_organization_name": "Acme"}),
                None,
                Some("1 of 1 accounts"),
                0.0,
            ),
            "sequences.search" => (json!({"q_name": "Q4"}), None, Some("2 of 2 sequences"), 0.0),
            "sequences.add_contacts" => (
                json!({"contact_ids": ["c1", "c2", "c3"], "emailer_campaign_id": "seq_1", "send_email_from_email_account_id": "ea_1"}),
                Some("seq_1"),
                Some("3 added"),
                0.0,
            ),
            "tasks.create" => (
                json!({"type": "call", "due_at": "2026-12-01T10:00:00Z", "user_id": "u", "contact_id": "c", "status": "scheduled"}),
                None,
                None,
                0.0,
            ),
            "tasks.search" => (json!({}), None, Some("12 of 40 tasks"), 0.0),
            "deals.create" => (
                json!({"name": "Acme renewal", "amount": "50000"}),
                None,
                None,
                0.0,
            ),
            "deals.update" => (json!({"amount": "60000"}), Some("opp_9"), None, 0.0),
            "deals.list" => (json!({}), None, Some("5 of 5 deals"), 0.0),
            "users.list" => (json!({}), None, Some("4 users"), 0.0),
            "people.view" => (json!({}), Some("5f0a11"), Some("a match"), 1.0),
            "organizations.view" => (json!({}), Some("5e66b6"), Some("a match"), 1.0),
            "organizations.bulk_enrich" => (
                json!({"domains": ["acme.com", "globex.com"]}),
                None,
                Some("2 companies"),
                2.0,
            ),
            "organizations.job_postings" => (
                json!({"per_page": 10}),
                Some("5e66b6"),
                Some("10 of 42 job postings"),
                1.0,
            ),
            "organizations.news" => (
                json!({"organization_ids": ["5e66b6"], "categories": ["hires"]}),
                None,
                Some("3 of 3 news articles"),
                1.0,
            ),
            "contacts.view" => (json!({}), Some("66f1c0ffee"), Some("a match"), 0.0),
            "contacts.bulk_create" => (
                json!({"contacts": [{"first_name": "Ada"}, {"first_name": "Grace"}, {"first_name": "Alan"}]}),
                None,
                Some("2 created and 1 already there"),
                0.0,
            ),
            "contacts.bulk_update" => (
                json!({"contact_attributes": [{"id": "c1", "title": "CTO"}, {"id": "c2", "title": "CEO"}]}),
                None,
                Some("2 contacts"),
                0.0,
            ),
            "contacts.update_stages" => (
                json!({"contact_ids": ["c1", "c2"], "contact_stage_id": "stage_7"}),
                None,
                Some("2 contacts"),
                0.0,
            ),
            "contacts.update_owners" => (
                json!({"contact_ids": ["c1"], "owner_id": "user_2"}),
                None,
                Some("1 contact"),
                0.0,
            ),
            "contacts.stages" => (json!({}), None, Some("9 contact stages"), 0.0),
            "contacts.labels" => (json!({}), None, Some("4 lists"), 0.0),
            "contacts.custom_fields" => (json!({}), None, Some("3 custom fields"), 0.0),
            "accounts.view" => (json!({}), Some("66f1acc0un7"), Some("a match"), 0.0),
            "accounts.bulk_create" => (
                json!({"accounts": [{"name": "Acme"}, {"domain": "globex.com"}]}),
                None,
                Some("2 created"),
                0.0,
            ),
            "accounts.bulk_update" => (
                json!({"account_attributes": [{"id": "a1", "name": "Acme Inc"}]}),
                None,
                Some("1 account"),
                0.0,
            ),
            "accounts.update_owners" => (
                json!({"account_ids": ["a1", "a2"], "owner_id": "user_2"}),
                None,
                Some("2 accounts"),
                0.0,
            ),
            "accounts.stages" => (json!({}), None, Some("5 account stages"), 0.0),
            "sequences.remove_contacts" => (
                json!({"emailer_campaign_ids": ["seq_1"], "contact_ids": ["c1", "c2"], "mode": "remove"}),
                None,
                Some("2 contacts"),
                0.0,
            ),
            "sequences.email_accounts" => (json!({}), None, Some("4 email accounts"), 0.0),
            "deals.view" => (json!({}), Some("opp_9"), Some("a match"), 0.0),
            "deals.stages" => (json!({}), None, Some("5 deal stages"), 0.0),
            "calls.create" => (
                json!({"contact_id": "c1", "status": "no_answer", "duration": 0}),
                None,
                None,
                0.0,
            ),
            "calls.search" => (json!({}), None, Some("7 of 7 calls"), 0.0),
            "calls.update" => (json!({"duration": 180}), Some("call_3"), None, 0.0),
            "users.profile" => (
                json!({"include_credit_usage": true}),
                None,
                Some("a match"),
                0.0,
            ),
            "sequences.emails" => (
                json!({"emailer_campaign_ids": ["seq_1"], "q_keywords": "pricing", "per_page": 50}),
                None,
                Some("50 of 212 outreach emails"),
                0.0,
            ),
            "sequences.email_stats" => (json!({}), Some("msg_7"), Some("3 email activities"), 0.0),
            "sequences.send_now" => (json!({}), Some("msg_7"), None, 0.0),
            "sequences.activate" | "sequences.deactivate" | "sequences.archive" => {
                (json!({}), Some("seq_1"), None, 0.0)
            }
            "tasks.view" => (json!({}), Some("task_4"), Some("a match"), 0.0),
            "tasks.update" => (json!({"priority": "high"}), Some("task_4"), None, 0.0),
            "tasks.complete" | "tasks.skip" => (
                json!({"note": "Left a voicemail"}),
                Some("task_4"),
                None,
                0.0,
            ),
            "tasks.bulk_create" => (
                json!({"user_id": "user_1", "contact_ids": ["c1", "c2", "c3"], "type": "call", "status": "scheduled", "due_at": "2025-07-01T09:00:00Z"}),
                None,
                Some("3 tasks"),
                0.0,
            ),
            "deals.contact_deals" => (json!({}), Some("c1"), Some("2 deals"), 0.0),
            "contacts.notes" => (json!({"contact_id": "c1"}), None, Some("4 notes"), 0.0),
            "contacts.fields" => (json!({"source": "custom"}), None, Some("12 fields"), 0.0),
            "contacts.create_field" => (
                json!({"label": "Renewal date", "modality": "account", "type": "date"}),
                None,
                None,
                0.0,
            ),
            "contacts.update_fields" => (
                json!({"fields": [{"id": "contact.f1", "label": "Renewal owner"}]}),
                None,
                Some("1 field"),
                0.0,
            ),
            "calls.conversations" => (
                json!({"conversation_type": "video_conference", "page": 1}),
                None,
                Some("5 of 5 conversations"),
                0.0,
            ),
            "calls.conversation" => (json!({}), Some("conv_2"), None, 1.0),
            "people.webhook_result" => (json!({}), Some("1039995589705121900"), None, 0.0),
            "users.credit_usage" => (json!({}), None, None, 0.0),
            "sequences.schedules" => (json!({}), None, Some("2 email schedules"), 0.0),
            "sequences.email_content" => (
                json!({"ids": ["msg_7", "msg_8"], "body_format": "plain"}),
                None,
                Some("2 outreach emails"),
                0.0,
            ),
            "sequences.email_status" => (json!({"id": "msg_7"}), None, None, 0.0),
            "sequences.activity" => (
                json!({"contact_id": "c1"}),
                None,
                Some("3 sequence events"),
                0.0,
            ),
            "contacts.create_list" => (
                json!({"name": "Q3 Targets", "modality": "contacts"}),
                None,
                None,
                0.0,
            ),
            "contacts.update_list" => (json!({"name": "Q4 Targets"}), Some("label_1"), None, 0.0),
            "contacts.add_to_lists" | "contacts.remove_from_lists" => (
                json!({"entity_ids": ["c1", "c2"], "label_names": ["Q3 Targets"], "modality": "contacts"}),
                None,
                Some("1 list"),
                0.0,
            ),
            _ => (json!({}), None, None, 0.0),
        }
    }

    #[test]
    fn sentences_for_every_action_allowed_and_denied() {
        let mut out = String::new();
        for action in bollard_policy::catalog() {
            let (v, path_id, result, credits) = sample(action.id.as_str());
            let a = args(v);
            let seq = (action.id == ActionId::SequencesAddContacts).then_some("Q4 Outbound");
            let answered = describe(action, &a, path_id, seq);
            let asked = describe(action, &a, path_id, None);
            let why = format!("'{}' is Off for this agent", action.group.title());
            out.push_str(&format!("## {}\n", action.id));
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &answered,
                &Phase::Answered {
                    status: 200,
                    result,
                    credits,
                },
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Mcp,
                &asked,
                &Phase::Denied { why: &why },
            ));
            out.push_str("\n\n");
        }
        out.push_str("## other phases\n");
        let search = bollard_policy::by_id("people.search")
            .map(|a| describe(a, &Args::default(), None, None));
        if let Some(w) = search {
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &w,
                &Phase::Allowed,
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &w,
                &Phase::Answered {
                    status: 422,
                    result: None,
                    credits: 0.0,
                },
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &w,
                &Phase::Failed {
                    why: "Apollo did not answer within 30 seconds; the call was not retried.",
                },
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &w,
                &Phase::WouldBe { why: None },
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Agent("Sales Agent"),
                Door::Rest,
                &w,
                &Phase::WouldBe {
                    why: Some("'People' is Off for this agent"),
                },
            ));
            out.push('\n');
            out.push_str(&sentence(
                Caller::Unknown,
                Door::Rest,
                &w,
                &Phase::Denied {
                    why: "the agent key is missing or unknown",
                },
            ));
            out.push('\n');
        }
        out.push_str(&unknown_route(
            Caller::Agent("Sales Agent"),
            Door::Rest,
            "DELETE",
            "/api/v1/contacts/c_1",
        ));
        out.push('\n');
        insta::assert_snapshot!(out);
    }

    #[test]
    fn sentences_name_the_connection_a_call_came_through() {
        let Some(search) = bollard_policy::by_id("people.search") else {
            return;
        };
        let a = args(json!({"person_titles": ["VP Sales"]}));
        let w = describe(search, &a, None, None);
        let via = caller_name("Sales Agent", Some("Claude (team workspace)"));
        let long = caller_name(&"A".repeat(80), Some(&"c\n".repeat(120)));
        let out = [
            sentence(
                Caller::Agent(&via),
                Door::Mcp,
                &w,
                &Phase::Answered {
                    status: 200,
                    result: Some("3 people"),
                    credits: 0.0,
                },
            ),
            sentence(Caller::Agent(&via), Door::Rest, &w, &Phase::Allowed),
            sentence(
                Caller::Agent(&via),
                Door::Mcp,
                &w,
                &Phase::Denied {
                    why: "'People' is Off for this agent",
                },
            ),
            refused_request(
                Caller::Agent(&via),
                Door::Mcp,
                "POST",
                "/mcp",
                "the request body is over 1 MiB",
            ),
            unknown_route(Caller::Agent(&via), Door::Rest, "DELETE", "/api/v1/x"),
            sentence(Caller::Agent(&long), Door::Mcp, &w, &Phase::Allowed),
            caller_name("Sales Agent", None),
        ]
        .join("\n");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn agent_supplied_text_is_clipped_and_stripped_of_control_characters() {
        let Some(action) = bollard_policy::by_id("people.search") else {
            return;
        };
        let a = args(json!({"person_titles": ["x\nInjected: allowed", "y".repeat(500)]}));
        let w = describe(action, &a, None, None);
        assert!(!w.inf.contains('\n'));
        assert!(w.inf.len() < 300, "{}", w.inf);
    }

    #[test]
    fn big_numbers_get_thousands_separators() {
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
