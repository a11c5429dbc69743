//! The catalog: every Apollo action Bollard understands (the twenty of the design and the
//! rest of Apollo's public reference, see `docs/apollo-catalog.md`), and the mapping from a
//! raw method and path (or an MCP tool name) to one of them. Anything that does not map
//! cleanly is `None`, and the gateway denies it: Bollard governs what it understands.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A capability group: the rows of the grant grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    People,
    /// Also read as `companies`, the label the console and sentences use.
    #[serde(alias = "companies")]
    Organizations,
    Contacts,
    Accounts,
    Sequences,
    Tasks,
    Deals,
    /// Also read as `teammates`, the label the console and sentences use.
    #[serde(alias = "teammates")]
    Users,
    /// Calls logged in Apollo (made with outside dialers).
    Calls,
}

impl Group {
    /// Every group, in the order of the catalog table.
    pub const ALL: [Group; 9] = [
        Group::People,
        Group::Organizations,
        Group::Contacts,
        Group::Accounts,
        Group::Sequences,
        Group::Tasks,
        Group::Deals,
        Group::Users,
        Group::Calls,
    ];

    /// The word grants, rules and the CLI use: `people`, `organizations`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Group::People => "people",
            Group::Organizations => "organizations",
            Group::Contacts => "contacts",
            Group::Accounts => "accounts",
            Group::Sequences => "sequences",
            Group::Tasks => "tasks",
            Group::Deals => "deals",
            Group::Users => "users",
            Group::Calls => "calls",
        }
    }

    /// Every group's word, with its label word where it has one:
    /// "people, organizations (or companies), ...".
    pub fn words() -> String {
        Group::ALL
            .iter()
            .map(|g| match g.label_word() {
                Some(l) => format!("{} (or {l})", g.as_str()),
                None => g.as_str().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The name people read in the console and in reasons.
    pub fn title(self) -> &'static str {
        match self {
            Group::People => "People",
            Group::Organizations => "Companies",
            Group::Contacts => "Contacts",
            Group::Accounts => "Accounts",
            Group::Sequences => "Sequences",
            Group::Tasks => "Tasks",
            Group::Deals => "Deals",
            Group::Users => "Teammates and usage",
            Group::Calls => "Calls",
        }
    }

    /// The other word accepted for the group: the label people read (`companies`,
    /// `teammates`), so an admin can type what the console and sentences say.
    pub fn label_word(self) -> Option<&'static str> {
        match self {
            Group::Organizations => Some("companies"),
            Group::Users => Some("teammates"),
            Group::People
            | Group::Contacts
            | Group::Accounts
            | Group::Sequences
            | Group::Tasks
            | Group::Deals
            | Group::Calls => None,
        }
    }

    /// Whether the group has write actions (the grid shows Write only for these).
    pub fn has_writes(self) -> bool {
        self.actions().any(|a| a.kind == Kind::Write)
    }

    /// Whether the group has read actions.
    pub fn has_reads(self) -> bool {
        self.actions().any(|a| a.kind == Kind::Read)
    }

    /// The group's actions, in catalog order.
    pub fn actions(self) -> impl Iterator<Item = &'static Action> {
        catalog().iter().filter(move |a| a.group == self)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Group {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim();
        Group::ALL
            .into_iter()
            .find(|g| {
                g.as_str().eq_ignore_ascii_case(word)
                    || g.label_word().is_some_and(|l| l.eq_ignore_ascii_case(word))
            })
            .ok_or_else(|| UnknownName {
                what: "capability group",
                given: s.to_owned(),
                valid: Group::words(),
            })
    }
}

/// The error of the `FromStr` impls in this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not a {what}; use one of: {valid}.")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub valid: String,
}

/// Whether an action reads or changes the team's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
        }
    }
}

/// Which Apollo key can reach an action: any key, or only a master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Any,
    Master,
}

/// An HTTP method of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Method {
    type Err = UnknownName;

    /// Case-insensitive: `get`, `GET` and `Get` are the same method.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| UnknownName {
            what: "method Bollard accepts",
            given: s.to_owned(),
            valid: "GET, POST, PUT, PATCH, DELETE".to_owned(),
        })
    }
}

/// The id of a catalog action. The catalog owns the list: adding a variant fails to compile
/// until the catalog entry and every exhaustive `match` over actions (schema, validation,
/// sentences) say what the new action does. Printed and parsed as `people.search` only at the
/// edges (grants, rules, records, CLI, API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionId {
    PeopleSearch,
    PeopleEnrich,
    PeopleBulkEnrich,
    OrganizationsSearch,
    OrganizationsEnrich,
    ContactsCreate,
    ContactsUpdate,
    ContactsSearch,
    AccountsCreate,
    AccountsUpdate,
    AccountsSearch,
    SequencesSearch,
    SequencesAddContacts,
    TasksCreate,
    TasksSearch,
    DealsCreate,
    DealsUpdate,
    DealsList,
    UsersList,
    UsersUsageStats,
    PeopleView,
    OrganizationsView,
    OrganizationsBulkEnrich,
    OrganizationsJobPostings,
    OrganizationsNews,
    ContactsView,
    ContactsBulkCreate,
    ContactsBulkUpdate,
    ContactsUpdateStages,
    ContactsUpdateOwners,
    ContactsStages,
    ContactsLabels,
    ContactsCustomFields,
    AccountsView,
    AccountsBulkCreate,
    AccountsBulkUpdate,
    AccountsUpdateOwners,
    AccountsStages,
    SequencesRemoveContacts,
    SequencesEmailAccounts,
    DealsView,
    DealsStages,
    CallsCreate,
    CallsSearch,
    CallsUpdate,
    UsersProfile,
    UsersAuthHealth,
    SequencesEmails,
    SequencesEmailStats,
    SequencesSendNow,
    SequencesActivate,
    SequencesDeactivate,
    SequencesArchive,
    TasksView,
    TasksUpdate,
    TasksComplete,
    TasksSkip,
    TasksBulkCreate,
    DealsContactDeals,
    ContactsNotes,
    ContactsFields,
    ContactsCreateField,
    ContactsUpdateFields,
    CallsConversations,
    CallsConversation,
    PeopleWebhookResult,
    UsersCreditUsage,
    SequencesSchedules,
    SequencesEmailContent,
    SequencesEmailStatus,
    SequencesActivity,
    ContactsCreateList,
    ContactsUpdateList,
    ContactsAddToLists,
    ContactsRemoveFromLists,
}

impl ActionId {
    /// Every action id, in catalog order.
    pub const ALL: [ActionId; 75] = [
        ActionId::PeopleSearch,
        ActionId::PeopleEnrich,
        ActionId::PeopleBulkEnrich,
        ActionId::OrganizationsSearch,
        ActionId::OrganizationsEnrich,
        ActionId::ContactsCreate,
        ActionId::ContactsUpdate,
        ActionId::ContactsSearch,
        ActionId::AccountsCreate,
        ActionId::AccountsUpdate,
        ActionId::AccountsSearch,
        ActionId::SequencesSearch,
        ActionId::SequencesAddContacts,
        ActionId::TasksCreate,
        ActionId::TasksSearch,
        ActionId::DealsCreate,
        ActionId::DealsUpdate,
        ActionId::DealsList,
        ActionId::UsersList,
        ActionId::UsersUsageStats,
        ActionId::PeopleView,
        ActionId::OrganizationsView,
        ActionId::OrganizationsBulkEnrich,
        ActionId::OrganizationsJobPostings,
        ActionId::OrganizationsNews,
        ActionId::ContactsView,
        ActionId::ContactsBulkCreate,
        ActionId::ContactsBulkUpdate,
        ActionId::ContactsUpdateStages,
        ActionId::ContactsUpdateOwners,
        ActionId::ContactsStages,
        ActionId::ContactsLabels,
        ActionId::ContactsCustomFields,
        ActionId::AccountsView,
        ActionId::AccountsBulkCreate,
        ActionId::AccountsBulkUpdate,
        ActionId::AccountsUpdateOwners,
        ActionId::AccountsStages,
        ActionId::SequencesRemoveContacts,
        ActionId::SequencesEmailAccounts,
        ActionId::DealsView,
        ActionId::DealsStages,
        ActionId::CallsCreate,
        ActionId::CallsSearch,
        ActionId::CallsUpdate,
        ActionId::UsersProfile,
        ActionId::UsersAuthHealth,
        ActionId::SequencesEmails,
        ActionId::SequencesEmailStats,
        ActionId::SequencesSendNow,
        ActionId::SequencesActivate,
        ActionId::SequencesDeactivate,
        ActionId::SequencesArchive,
        ActionId::TasksView,
        ActionId::TasksUpdate,
        ActionId::TasksComplete,
        ActionId::TasksSkip,
        ActionId::TasksBulkCreate,
        ActionId::DealsContactDeals,
        ActionId::ContactsNotes,
        ActionId::ContactsFields,
        ActionId::ContactsCreateField,
        ActionId::ContactsUpdateFields,
        ActionId::CallsConversations,
        ActionId::CallsConversation,
        ActionId::PeopleWebhookResult,
        ActionId::UsersCreditUsage,
        ActionId::SequencesSchedules,
        ActionId::SequencesEmailContent,
        ActionId::SequencesEmailStatus,
        ActionId::SequencesActivity,
        ActionId::ContactsCreateList,
        ActionId::ContactsUpdateList,
        ActionId::ContactsAddToLists,
        ActionId::ContactsRemoveFromLists,
    ];

    /// What grants, rules, audit records and the CLI use: `people.search`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionId::PeopleSearch => "people.search",
            ActionId::PeopleEnrich => "people.enrich",
            ActionId::PeopleBulkEnrich => "people.bulk_enrich",
            ActionId::OrganizationsSearch => "organizations.search",
            ActionId::OrganizationsEnrich => "organizations.enrich",
            ActionId::ContactsCreate => "contacts.create",
            ActionId::ContactsUpdate => "contacts.update",
            ActionId::ContactsSearch => "contacts.search",
            ActionId::AccountsCreate => "accounts.create",
            ActionId::AccountsUpdate => "accounts.update",
            ActionId::AccountsSearch => "accounts.search",
            ActionId::SequencesSearch => "sequences.search",
            ActionId::SequencesAddContacts => "sequences.add_contacts",
            ActionId::TasksCreate => "tasks.create",
            ActionId::TasksSearch => "tasks.search",
            ActionId::DealsCreate => "deals.create",
            ActionId::DealsUpdate => "deals.update",
            ActionId::DealsList => "deals.list",
            ActionId::UsersList => "users.list",
            ActionId::UsersUsageStats => "users.usage_stats",
            ActionId::PeopleView => "people.view",
            ActionId::OrganizationsView => "organizations.view",
            ActionId::OrganizationsBulkEnrich => "organizations.bulk_enrich",
            ActionId::OrganizationsJobPostings => "organizations.job_postings",
            ActionId::OrganizationsNews => "organizations.news",
            ActionId::ContactsView => "contacts.view",
            ActionId::ContactsBulkCreate => "contacts.bulk_create",
            ActionId::ContactsBulkUpdate => "contacts.bulk_update",
            ActionId::ContactsUpdateStages => "contacts.update_stages",
            ActionId::ContactsUpdateOwners => "contacts.update_owners",
            ActionId::ContactsStages => "contacts.stages",
            ActionId::ContactsLabels => "contacts.labels",
            ActionId::ContactsCustomFields => "contacts.custom_fields",
            ActionId::AccountsView => "accounts.view",
            ActionId::AccountsBulkCreate => "accounts.bulk_create",
            ActionId::AccountsBulkUpdate => "accounts.bulk_update",
            ActionId::AccountsUpdateOwners => "accounts.update_owners",
            ActionId::AccountsStages => "accounts.stages",
            ActionId::SequencesRemoveContacts => "sequences.remove_contacts",
            ActionId::SequencesEmailAccounts => "sequences.email_accounts",
            ActionId::DealsView => "deals.view",
            ActionId::DealsStages => "deals.stages",
            ActionId::CallsCreate => "calls.create",
            ActionId::CallsSearch => "calls.search",
            ActionId::CallsUpdate => "calls.update",
            ActionId::UsersProfile => "users.profile",
            ActionId::UsersAuthHealth => "users.auth_health",
            ActionId::SequencesEmails => "sequences.emails",
            ActionId::SequencesEmailStats => "sequences.email_stats",
            ActionId::SequencesSendNow => "sequences.send_now",
            ActionId::SequencesActivate => "sequences.activate",
            ActionId::SequencesDeactivate => "sequences.deactivate",
            ActionId::SequencesArchive => "sequences.archive",
            ActionId::TasksView => "tasks.view",
            ActionId::TasksUpdate => "tasks.update",
            ActionId::TasksComplete => "tasks.complete",
            ActionId::TasksSkip => "tasks.skip",
            ActionId::TasksBulkCreate => "tasks.bulk_create",
            ActionId::DealsContactDeals => "deals.contact_deals",
            ActionId::ContactsNotes => "contacts.notes",
            ActionId::ContactsFields => "contacts.fields",
            ActionId::ContactsCreateField => "contacts.create_field",
            ActionId::ContactsUpdateFields => "contacts.update_fields",
            ActionId::CallsConversations => "calls.conversations",
            ActionId::CallsConversation => "calls.conversation",
            ActionId::PeopleWebhookResult => "people.webhook_result",
            ActionId::UsersCreditUsage => "users.credit_usage",
            ActionId::SequencesSchedules => "sequences.schedules",
            ActionId::SequencesEmailContent => "sequences.email_content",
            ActionId::SequencesEmailStatus => "sequences.email_status",
            ActionId::SequencesActivity => "sequences.activity",
            ActionId::ContactsCreateList => "contacts.create_list",
            ActionId::ContactsUpdateList => "contacts.update_list",
            ActionId::ContactsAddToLists => "contacts.add_to_lists",
            ActionId::ContactsRemoveFromLists => "contacts.remove_from_lists",
        }
    }

    /// The catalog entry of this action. Constant indexes: an index past the table is a
    /// compile error, and a test holds each entry at its variant's position.
    pub fn action(self) -> &'static Action {
        match self {
            ActionId::PeopleSearch => &CATALOG[0],
            ActionId::PeopleEnrich => &CATALOG[1],
            ActionId::PeopleBulkEnrich => &CATALOG[2],
            ActionId::OrganizationsSearch => &CATALOG[3],
            ActionId::OrganizationsEnrich => &CATALOG[4],
            ActionId::ContactsCreate => &CATALOG[5],
            ActionId::ContactsUpdate => &CATALOG[6],
            ActionId::ContactsSearch => &CATALOG[7],
            ActionId::AccountsCreate => &CATALOG[8],
            ActionId::AccountsUpdate => &CATALOG[9],
            ActionId::AccountsSearch => &CATALOG[10],
            ActionId::SequencesSearch => &CATALOG[11],
            ActionId::SequencesAddContacts => &CATALOG[12],
            ActionId::TasksCreate => &CATALOG[13],
            ActionId::TasksSearch => &CATALOG[14],
            ActionId::DealsCreate => &CATALOG[15],
            ActionId::DealsUpdate => &CATALOG[16],
            ActionId::DealsList => &CATALOG[17],
            ActionId::UsersList => &CATALOG[18],
            ActionId::UsersUsageStats => &CATALOG[19],
            ActionId::PeopleView => &CATALOG[20],
            ActionId::OrganizationsView => &CATALOG[21],
            ActionId::OrganizationsBulkEnrich => &CATALOG[22],
            ActionId::OrganizationsJobPostings => &CATALOG[23],
            ActionId::OrganizationsNews => &CATALOG[24],
            ActionId::ContactsView => &CATALOG[25],
            ActionId::ContactsBulkCreate => &CATALOG[26],
            ActionId::ContactsBulkUpdate => &CATALOG[27],
            ActionId::ContactsUpdateStages => &CATALOG[28],
            ActionId::ContactsUpdateOwners => &CATALOG[29],
            ActionId::ContactsStages => &CATALOG[30],
            ActionId::ContactsLabels => &CATALOG[31],
            ActionId::ContactsCustomFields => &CATALOG[32],
            ActionId::AccountsView => &CATALOG[33],
            ActionId::AccountsBulkCreate => &CATALOG[34],
            ActionId::AccountsBulkUpdate => &CATALOG[35],
            ActionId::AccountsUpdateOwners => &CATALOG[36],
            ActionId::AccountsStages => &CATALOG[37],
            ActionId::SequencesRemoveContacts => &CATALOG[38],
            ActionId::SequencesEmailAccounts => &CATALOG[39],
            ActionId::DealsView => &CATALOG[40],
            ActionId::DealsStages => &CATALOG[41],
            ActionId::CallsCreate => &CATALOG[42],
            ActionId::CallsSearch => &CATALOG[43],
            ActionId::CallsUpdate => &CATALOG[44],
            ActionId::UsersProfile => &CATALOG[45],
            ActionId::UsersAuthHealth => &CATALOG[46],
            ActionId::SequencesEmails => &CATALOG[47],
            ActionId::SequencesEmailStats => &CATALOG[48],
            ActionId::SequencesSendNow => &CATALOG[49],
            ActionId::SequencesActivate => &CATALOG[50],
            ActionId::SequencesDeactivate => &CATALOG[51],
            ActionId::SequencesArchive => &CATALOG[52],
            ActionId::TasksView => &CATALOG[53],
            ActionId::TasksUpdate => &CATALOG[54],
            ActionId::TasksComplete => &CATALOG[55],
            ActionId::TasksSkip => &CATALOG[56],
            ActionId::TasksBulkCreate => &CATALOG[57],
            ActionId::DealsContactDeals => &CATALOG[58],
            ActionId::ContactsNotes => &CATALOG[59],
            ActionId::ContactsFields => &CATALOG[60],
            ActionId::ContactsCreateField => &CATALOG[61],
            ActionId::ContactsUpdateFields => &CATALOG[62],
            ActionId::CallsConversations => &CATALOG[63],
            ActionId::CallsConversation => &CATALOG[64],
            ActionId::PeopleWebhookResult => &CATALOG[65],
            ActionId::UsersCreditUsage => &CATALOG[66],
            ActionId::SequencesSchedules => &CATALOG[67],
            ActionId::SequencesEmailContent => &CATALOG[68],
            ActionId::SequencesEmailStatus => &CATALOG[69],
            ActionId::SequencesActivity => &CATALOG[70],
            ActionId::ContactsCreateList => &CATALOG[71],
            ActionId::ContactsUpdateList => &CATALOG[72],
            ActionId::ContactsAddToLists => &CATALOG[73],
            ActionId::ContactsRemoveFromLists => &CATALOG[74],
        }
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ActionId {
    type Err = UnknownName;

    /// Exactly the catalog's spelling: ids are identifiers, not labels.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionId::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "Bollard action id",
                given: s.to_owned(),
                valid: action_ids(),
            })
    }
}

impl Serialize for ActionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How an action's cost is computed from the price table (see [`crate::PriceTable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Price {
    /// Spends no credits.
    Free,
    /// One person enriched: a match, plus whatever the reveal and waterfall flags add.
    Person,
    /// Up to ten people: the per-person price for each, settled to Apollo's
    /// `credits_consumed`.
    PeopleBulk,
    /// One page of an organization search.
    OrganizationPage,
    /// One organization enriched.
    OrganizationEnrich,
    /// Up to ten organizations enriched: one organization's price for each domain,
    /// settled to the organizations Apollo returned.
    OrganizationsBulk,
    /// One conversation viewed: 1 credit when it has AI insights, none otherwise (Apollo's
    /// "Get Conversations Info": "0-1 credit per conversation"). Bollard cannot tell
    /// beforehand, so it reserves 1 and keeps it for a conversation found.
    Conversation,
}

/// What Apollo's answer holds, for the counts of the audit sentence (never data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A search envelope with a list under `key`, counted as `noun`: "25 of 1,204 people".
    List {
        key: &'static str,
        noun: &'static str,
    },
    /// One record under `key`, or null: "a match" / "no match".
    Match { key: &'static str },
    /// Bulk enrichment's `matches`: "3 of 4 matched".
    BulkMatches,
    /// Adding to a sequence: "3 added and 1 skipped".
    SequenceAdded,
    /// Records listed without Apollo's paging envelope (stages, labels, bulk updates):
    /// "9 contact stages".
    Records {
        key: &'static str,
        noun: &'static str,
    },
    /// A bulk create: "3 created and 1 already there".
    BulkCreated {
        created: &'static str,
        existing: &'static str,
    },
    /// Nothing the sentence counts.
    Nothing,
}

/// One action of the catalog.
#[derive(Debug, PartialEq, Eq)]
pub struct Action {
    pub id: ActionId,
    pub group: Group,
    pub kind: Kind,
    /// Apollo's documented method.
    pub method: Method,
    /// Other methods Apollo accepts on the same path.
    pub also: &'static [Method],
    /// The path under `/api/v1` (or `/v1`), with `{param}` for a record id.
    pub path: &'static str,
    /// How the call's credits are computed.
    pub price: Price,
    /// What the answer holds, for the audit sentence's counts.
    pub shape: Shape,
    pub key: KeyScope,
    pub mcp_tool: &'static str,
    /// For people: "Search the people database".
    pub title: &'static str,
    /// For an LLM: what it does, what it costs in credits, what it must not do.
    pub description: &'static str,
    /// For audit sentences: "searched Apollo's people database".
    pub verb: &'static str,
    /// The name of the path's id parameter, for actions on one record.
    pub path_param: Option<&'static str>,
}

impl Action {
    /// Whether the action can spend credits.
    pub fn spends_credits(&self) -> bool {
        self.price != Price::Free
    }

    /// Whether the action is a search answered with Apollo's paging envelope, so `page` and
    /// `per_page` apply.
    pub fn paginated(&self) -> bool {
        matches!(self.shape, Shape::List { .. })
    }

    /// Whether a write overwrites what is there (updates), as MCP's `destructiveHint` means.
    /// Reads never do.
    pub fn overwrites(&self) -> bool {
        match self.id {
            ActionId::ContactsUpdate
            | ActionId::AccountsUpdate
            | ActionId::DealsUpdate
            | ActionId::ContactsBulkUpdate
            | ActionId::ContactsUpdateStages
            | ActionId::ContactsUpdateOwners
            | ActionId::AccountsBulkUpdate
            | ActionId::AccountsUpdateOwners
            | ActionId::SequencesRemoveContacts
            | ActionId::CallsUpdate
            | ActionId::SequencesActivate
            | ActionId::SequencesDeactivate
            | ActionId::SequencesArchive
            | ActionId::TasksUpdate
            | ActionId::TasksComplete
            | ActionId::TasksSkip
            | ActionId::ContactsUpdateFields
            | ActionId::ContactsUpdateList
            | ActionId::ContactsRemoveFromLists => true,
            ActionId::PeopleSearch
            | ActionId::PeopleEnrich
            | ActionId::PeopleBulkEnrich
            | ActionId::OrganizationsSearch
            | ActionId::OrganizationsEnrich
            | ActionId::ContactsCreate
            | ActionId::ContactsSearch
            | ActionId::AccountsCreate
            | ActionId::AccountsSearch
            | ActionId::SequencesSearch
            | ActionId::SequencesAddContacts
            | ActionId::TasksCreate
            | ActionId::TasksSearch
            | ActionId::DealsCreate
            | ActionId::DealsList
            | ActionId::UsersList
            | ActionId::UsersUsageStats
            | ActionId::PeopleView
            | ActionId::OrganizationsView
            | ActionId::OrganizationsBulkEnrich
            | ActionId::OrganizationsJobPostings
            | ActionId::OrganizationsNews
            | ActionId::ContactsView
            | ActionId::ContactsBulkCreate
            | ActionId::ContactsStages
            | ActionId::ContactsLabels
            | ActionId::ContactsCustomFields
            | ActionId::AccountsView
            | ActionId::AccountsBulkCreate
            | ActionId::AccountsStages
            | ActionId::SequencesEmailAccounts
            | ActionId::DealsView
            | ActionId::DealsStages
            | ActionId::CallsCreate
            | ActionId::CallsSearch
            | ActionId::UsersProfile
            | ActionId::UsersAuthHealth
            | ActionId::SequencesEmails
            | ActionId::SequencesEmailStats
            | ActionId::SequencesSendNow
            | ActionId::TasksView
            | ActionId::TasksBulkCreate
            | ActionId::DealsContactDeals
            | ActionId::ContactsNotes
            | ActionId::ContactsFields
            | ActionId::ContactsCreateField
            | ActionId::CallsConversations
            | ActionId::CallsConversation
            | ActionId::PeopleWebhookResult
            | ActionId::UsersCreditUsage
            | ActionId::SequencesSchedules
            | ActionId::SequencesEmailContent
            | ActionId::SequencesEmailStatus
            | ActionId::SequencesActivity
            | ActionId::ContactsCreateList
            | ActionId::ContactsAddToLists => false,
        }
    }

    /// Whether repeating the call changes nothing more, as MCP's `idempotentHint` means:
    /// reads, updates, and adding contacts to a sequence (those already in it are skipped).
    /// Creating twice makes a duplicate.
    pub fn idempotent(&self) -> bool {
        match self.id {
            ActionId::ContactsCreate
            | ActionId::AccountsCreate
            | ActionId::TasksCreate
            | ActionId::DealsCreate
            | ActionId::AccountsBulkCreate
            | ActionId::CallsCreate
            | ActionId::SequencesSendNow
            | ActionId::TasksBulkCreate
            | ActionId::ContactsCreateField
            | ActionId::ContactsCreateList => false,
            // Bulk create of contacts returns matched contacts unchanged (Apollo's
            // contacts reference, "Creating and updating"), so repeating it adds nothing.
            ActionId::ContactsBulkCreate => true,
            ActionId::PeopleSearch
            | ActionId::PeopleEnrich
            | ActionId::PeopleBulkEnrich
            | ActionId::OrganizationsSearch
            | ActionId::OrganizationsEnrich
            | ActionId::ContactsUpdate
            | ActionId::ContactsSearch
            | ActionId::AccountsUpdate
            | ActionId::AccountsSearch
            | ActionId::SequencesSearch
            | ActionId::SequencesAddContacts
            | ActionId::TasksSearch
            | ActionId::DealsUpdate
            | ActionId::DealsList
            | ActionId::UsersList
            | ActionId::UsersUsageStats
            | ActionId::PeopleView
            | ActionId::OrganizationsView
            | ActionId::OrganizationsBulkEnrich
            | ActionId::OrganizationsJobPostings
            | ActionId::OrganizationsNews
            | ActionId::ContactsView
            | ActionId::ContactsBulkUpdate
            | ActionId::ContactsUpdateStages
            | ActionId::ContactsUpdateOwners
            | ActionId::ContactsStages
            | ActionId::ContactsLabels
            | ActionId::ContactsCustomFields
            | ActionId::AccountsView
            | ActionId::AccountsBulkUpdate
            | ActionId::AccountsUpdateOwners
            | ActionId::AccountsStages
            | ActionId::SequencesRemoveContacts
            | ActionId::SequencesEmailAccounts
            | ActionId::DealsView
            | ActionId::DealsStages
            | ActionId::CallsSearch
            | ActionId::CallsUpdate
            | ActionId::UsersProfile
            | ActionId::UsersAuthHealth
            | ActionId::SequencesEmails
            | ActionId::SequencesEmailStats
            | ActionId::SequencesActivate
            | ActionId::SequencesDeactivate
            | ActionId::SequencesArchive
            | ActionId::TasksView
            | ActionId::TasksUpdate
            | ActionId::TasksComplete
            | ActionId::TasksSkip
            | ActionId::DealsContactDeals
            | ActionId::ContactsNotes
            | ActionId::ContactsFields
            | ActionId::ContactsUpdateFields
            | ActionId::CallsConversations
            | ActionId::CallsConversation
            | ActionId::PeopleWebhookResult
            | ActionId::UsersCreditUsage
            | ActionId::SequencesSchedules
            | ActionId::SequencesEmailContent
            | ActionId::SequencesEmailStatus
            | ActionId::SequencesActivity
            | ActionId::ContactsUpdateList
            | ActionId::ContactsAddToLists
            | ActionId::ContactsRemoveFromLists => true,
        }
    }

    /// Whether the action only reads.
    pub fn read_only(&self) -> bool {
        self.kind == Kind::Read
    }

    /// Whether `method` is Apollo's method for this action or one it also accepts.
    pub fn accepts(&self, method: Method) -> bool {
        self.method == method || self.also.contains(&method)
    }

    /// The path to call upstream, under `/api/v1`, with the record id put in:
    /// `/api/v1/contacts/abc`. `None` when the action needs an id and `path_id` is missing,
    /// is not a valid id (see [`valid_path_id`]), or would spell another route (an id
    /// `search` makes `/contacts/search`, which is not an update). For MCP calls, whose id
    /// arrives as an argument named like [`Action::path_param`], and the dry run.
    pub fn upstream_path(&self, path_id: Option<&str>) -> Option<String> {
        let path = match (self.path_param, path_id) {
            (None, _) => format!("/api/v1{}", self.path),
            (Some(param), Some(id)) if valid_path_id(id) => {
                format!("/api/v1{}", self.path.replace(&format!("{{{param}}}"), id))
            }
            (Some(_), _) => return None,
        };
        classify(self.method.as_str(), &path)
            .is_some_and(|r| r.action.id == self.id)
            .then_some(path)
    }

    /// The title as it reads inside a sentence: "search the people database".
    pub fn title_lower(&self) -> String {
        lower_first(self.title)
    }

    /// The JSON Schema (an object schema) of the action's arguments, as Apollo takes
    /// them. For actions on one record the id is a required property named like the
    /// path parameter (`contact_id`, `sequence_id`, ...).
    pub fn input_schema(&self) -> Value {
        let (mut properties, mut required) = arguments_of(self.id);
        if let Some(param) = self.path_param {
            if let Value::Object(props) = &mut properties {
                props.insert(
                    param.to_owned(),
                    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                           "description": "The Apollo id of the record, as in the REST path."}),
                );
            }
            required.insert(0, param);
        }
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
        })
    }
}

/// "Search the people database" -> "search the people database"; "API usage" stays.
pub(crate) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if !second.is_uppercase() => {
            let mut out = first.to_lowercase().collect::<String>();
            out.push_str(s.get(first.len_utf8()..).unwrap_or_default());
            out
        }
        _ => s.to_owned(),
    }
}

/// The actions: the twenty of `interfaces.md` first, then the rest of Apollo's public
/// reference (`docs/apollo-catalog.md`).
pub fn catalog() -> &'static [Action] {
    &CATALOG
}

/// Every action id, comma-separated, for sentences that list what is valid.
pub fn action_ids() -> String {
    catalog()
        .iter()
        .map(|a| a.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The action with this id (`people.search`), exactly.
pub fn by_id(id: &str) -> Option<&'static Action> {
    id.parse::<ActionId>().ok().map(ActionId::action)
}

/// The action behind this MCP tool name (`apollo_people_match`), exactly.
pub fn by_tool(name: &str) -> Option<&'static Action> {
    CATALOG.iter().find(|a| a.mcp_tool == name)
}

/// A classified request: the action and, for actions on one record, the id from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub action: &'static Action,
    pub path_id: Option<String>,
}

/// Whether `s` is a record id Bollard lets through: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_path_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(is_segment_byte)
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Maps a raw method and URI path (no query) to an action of the catalog.
///
/// Accepts the `/api/v1` and legacy `/v1` prefixes, the also-accepted methods and one
/// trailing slash. Everything else that is odd is `None`: percent-encoding, dots, `//`,
/// empty segments, characters outside `[A-Za-z0-9_-]`, unknown paths, wrong methods.
/// A path that spells a fixed route (`/contacts/search`) never falls through to a
/// route with an id (`/contacts/{contact_id}`), whatever the method.
pub fn classify(method: &str, path: &str) -> Option<Route> {
    let method: Method = method.parse().ok()?;
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/v1/"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.len() > 256 {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || !s.bytes().all(is_segment_byte))
    {
        return None;
    }

    // Fixed routes first: a literal match decides the action, or the path is refused. One
    // path can hold several actions told apart by method (`GET /fields` lists them,
    // `POST /fields` creates one).
    let mut literal = CATALOG
        .iter()
        .filter(|a| matches_literal(a.path, &segments))
        .peekable();
    if literal.peek().is_some() {
        return literal.find(|a| a.accepts(method)).map(|action| Route {
            action,
            path_id: None,
        });
    }
    CATALOG.iter().find_map(|action| {
        let id = matches_param(action.path, &segments)?;
        (action.accepts(method) && valid_path_id(id)).then(|| Route {
            action,
            path_id: Some(id.to_owned()),
        })
    })
}

fn template(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.trim_start_matches('/').split('/')
}

fn matches_literal(path: &'static str, segments: &[&str]) -> bool {
    !path.contains('{') && template(path).eq(segments.iter().copied())
}

/// The id in `segments` if they match the template `path` that has a `{param}`.
fn matches_param<'a>(path: &'static str, segments: &[&'a str]) -> Option<&'a str> {
    if !path.contains('{') || template(path).count() != segments.len() {
        return None;
    }
    let mut id = None;
    for (t, s) in template(path).zip(segments.iter().copied()) {
        if t.starts_with('{') {
            id = Some(s);
        } else if t != s {
            return None;
        }
    }
    id
}

mod schema;
mod table;

use schema::arguments_of;
pub(crate) use schema::{
    ACCOUNT_SORTS, BULK_LIMIT, CALL_STATUSES, CONTACT_SORTS, CONVERSATION_TYPES, DEAL_SORTS,
    FIELD_MODALITIES, FIELD_SOURCES, FIELD_TYPES, LIST_MODALITIES, NOTE_SORTS, SEQUENCE_MODES,
    TASK_PRIORITIES, TASK_SORTS, TASK_STATUSES, TASK_TYPES,
};
use table::CATALOG;

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
