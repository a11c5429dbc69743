//! The routes the sandbox answers, and how a method and path resolve to one of them.
//!
//! Each endpoint has Apollo's controller and action names: they make the route name in
//! 403 and 429 sentences (`api/v1/contacts/search`) and the keys of `api_usage_stats`
//! (`["api/v1/contacts", "search"]`).

/// One Apollo endpoint. `ALL` lists them in a fixed order that indexes rate windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    PeopleSearch,
    PeopleSearchDeprecated,
    PeopleMatch,
    PeopleBulkMatch,
    OrganizationSearch,
    OrganizationEnrich,
    ContactCreate,
    ContactUpdate,
    ContactSearch,
    AccountCreate,
    AccountUpdate,
    AccountSearch,
    SequenceSearch,
    SequenceAddContacts,
    TaskCreate,
    TaskSearch,
    DealCreate,
    DealUpdate,
    DealSearch,
    UserSearch,
    ApiUsageStats,
    CreditUsageStats,
    PersonShow,
    OrganizationShow,
    OrganizationBulkEnrich,
    OrganizationJobPostings,
    NewsArticleSearch,
    ContactShow,
    ContactBulkCreate,
    ContactBulkUpdate,
    ContactUpdateStages,
    ContactUpdateOwners,
    ContactStages,
    Labels,
    CustomFields,
    AccountShow,
    AccountBulkCreate,
    AccountBulkUpdate,
    AccountUpdateOwners,
    AccountStages,
    SequenceRemoveContacts,
    EmailAccounts,
    DealShow,
    DealStages,
    CallCreate,
    CallSearch,
    CallUpdate,
    UserProfile,
    AuthHealth,
    EmailerMessageSearch,
    EmailerMessageActivities,
    EmailerMessageSendNow,
    SequenceApprove,
    SequenceAbort,
    SequenceArchive,
    TaskShow,
    TaskUpdate,
    TaskComplete,
    TaskSkip,
    TaskBulkCreate,
    ContactDeals,
    Notes,
    Fields,
    FieldCreate,
    FieldUpdate,
    ConversationSearch,
    ConversationShow,
    WebhookResult,
    EmailerSchedules,
    EmailerMessageContent,
    EmailerMessageSendStatus,
    SequenceActivityFeed,
    LabelCreate,
    LabelUpdate,
    LabelAdd,
    LabelRemove,
}

impl Endpoint {
    pub const ALL: [Endpoint; 76] = [
        Self::PeopleSearch,
        Self::PeopleSearchDeprecated,
        Self::PeopleMatch,
        Self::PeopleBulkMatch,
        Self::OrganizationSearch,
        Self::OrganizationEnrich,
        Self::ContactCreate,
        Self::ContactUpdate,
        Self::ContactSearch,
        Self::AccountCreate,
        Self::AccountUpdate,
        Self::AccountSearch,
        Self::SequenceSearch,
        Self::SequenceAddContacts,
        Self::TaskCreate,
        Self::TaskSearch,
        Self::DealCreate,
        Self::DealUpdate,
        Self::DealSearch,
        Self::UserSearch,
        Self::ApiUsageStats,
        Self::CreditUsageStats,
        Self::PersonShow,
        Self::OrganizationShow,
        Self::OrganizationBulkEnrich,
        Self::OrganizationJobPostings,
        Self::NewsArticleSearch,
        Self::ContactShow,
        Self::ContactBulkCreate,
        Self::ContactBulkUpdate,
        Self::ContactUpdateStages,
        Self::ContactUpdateOwners,
        Self::ContactStages,
        Self::Labels,
        Self::CustomFields,
        Self::AccountShow,
        Self::AccountBulkCreate,
        Self::AccountBulkUpdate,
        Self::AccountUpdateOwners,
        Self::AccountStages,
        Self::SequenceRemoveContacts,
        Self::EmailAccounts,
        Self::DealShow,
        Self::DealStages,
        Self::CallCreate,
        Self::CallSearch,
        Self::CallUpdate,
        Self::UserProfile,
        Self::AuthHealth,
        Self::EmailerMessageSearch,
        Self::EmailerMessageActivities,
        Self::EmailerMessageSendNow,
        Self::SequenceApprove,
        Self::SequenceAbort,
        Self::SequenceArchive,
        Self::TaskShow,
        Self::TaskUpdate,
        Self::TaskComplete,
        Self::TaskSkip,
        Self::TaskBulkCreate,
        Self::ContactDeals,
        Self::Notes,
        Self::Fields,
        Self::FieldCreate,
        Self::FieldUpdate,
        Self::ConversationSearch,
        Self::ConversationShow,
        Self::WebhookResult,
        Self::EmailerSchedules,
        Self::EmailerMessageContent,
        Self::EmailerMessageSendStatus,
        Self::SequenceActivityFeed,
        Self::LabelCreate,
        Self::LabelUpdate,
        Self::LabelAdd,
        Self::LabelRemove,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Apollo's controller and action, e.g. `("api/v1/contacts", "search")`.
    pub fn controller_action(self) -> (&'static str, &'static str) {
        match self {
            Self::PeopleSearch => ("api/v1/mixed_people", "api_search"),
            Self::PeopleSearchDeprecated => ("api/v1/mixed_people", "search"),
            Self::PeopleMatch => ("api/v1/people", "match"),
            Self::PeopleBulkMatch => ("api/v1/people", "bulk_match"),
            Self::OrganizationSearch => ("api/v1/mixed_companies", "search"),
            Self::OrganizationEnrich => ("api/v1/organizations", "enrich"),
            Self::ContactCreate => ("api/v1/contacts", "create"),
            Self::ContactUpdate => ("api/v1/contacts", "update"),
            Self::ContactSearch => ("api/v1/contacts", "search"),
            Self::AccountCreate => ("api/v1/accounts", "create"),
            Self::AccountUpdate => ("api/v1/accounts", "update"),
            Self::AccountSearch => ("api/v1/accounts", "search"),
            Self::SequenceSearch => ("api/v1/emailer_campaigns", "search"),
            Self::SequenceAddContacts => ("api/v1/emailer_campaigns", "add_contact_ids"),
            Self::TaskCreate => ("api/v1/tasks", "create"),
            Self::TaskSearch => ("api/v1/tasks", "search"),
            Self::DealCreate => ("api/v1/opportunities", "create"),
            Self::DealUpdate => ("api/v1/opportunities", "update"),
            Self::DealSearch => ("api/v1/opportunities", "search"),
            Self::UserSearch => ("api/v1/users", "search"),
            Self::ApiUsageStats => ("api/v1/usage_stats", "api_usage_stats"),
            Self::CreditUsageStats => ("api/v1/usage_stats", "credit_usage_stats"),
            Self::PersonShow => ("api/v1/people", "show"),
            Self::OrganizationShow => ("api/v1/organizations", "show"),
            Self::OrganizationBulkEnrich => ("api/v1/organizations", "bulk_enrich"),
            Self::OrganizationJobPostings => ("api/v1/organizations", "job_postings"),
            Self::NewsArticleSearch => ("api/v1/news_articles", "search"),
            Self::ContactShow => ("api/v1/contacts", "show"),
            Self::ContactBulkCreate => ("api/v1/contacts", "bulk_create"),
            Self::ContactBulkUpdate => ("api/v1/contacts", "bulk_update"),
            Self::ContactUpdateStages => ("api/v1/contacts", "update_stages"),
            Self::ContactUpdateOwners => ("api/v1/contacts", "update_owners"),
            Self::ContactStages => ("api/v1/contact_stages", "index"),
            Self::Labels => ("api/v1/labels", "index"),
            Self::CustomFields => ("api/v1/typed_custom_fields", "index"),
            Self::AccountShow => ("api/v1/accounts", "show"),
            Self::AccountBulkCreate => ("api/v1/accounts", "bulk_create"),
            Self::AccountBulkUpdate => ("api/v1/accounts", "bulk_update"),
            Self::AccountUpdateOwners => ("api/v1/accounts", "update_owners"),
            Self::AccountStages => ("api/v1/account_stages", "index"),
            Self::SequenceRemoveContacts => {
                ("api/v1/emailer_campaigns", "remove_or_stop_contact_ids")
            }
            Self::EmailAccounts => ("api/v1/email_accounts", "index"),
            Self::DealShow => ("api/v1/opportunities", "show"),
            Self::DealStages => ("api/v1/opportunity_stages", "index"),
            Self::CallCreate => ("api/v1/phone_calls", "create"),
            Self::CallSearch => ("api/v1/phone_calls", "search"),
            Self::CallUpdate => ("api/v1/phone_calls", "update"),
            Self::UserProfile => ("api/v1/users", "api_profile"),
            Self::AuthHealth => ("api/v1/auth", "health"),
            Self::EmailerMessageSearch => ("api/v1/emailer_messages", "search"),
            Self::EmailerMessageActivities => ("api/v1/emailer_messages", "activities"),
            Self::EmailerMessageSendNow => ("api/v1/emailer_messages", "send_now"),
            Self::SequenceApprove => ("api/v1/emailer_campaigns", "approve"),
            Self::SequenceAbort => ("api/v1/emailer_campaigns", "abort"),
            Self::SequenceArchive => ("api/v1/emailer_campaigns", "archive"),
            Self::TaskShow => ("api/v1/tasks", "show"),
            Self::TaskUpdate => ("api/v1/tasks", "update"),
            Self::TaskComplete => ("api/v1/tasks", "complete"),
            Self::TaskSkip => ("api/v1/tasks", "skip"),
            Self::TaskBulkCreate => ("api/v1/tasks", "bulk_create"),
            Self::ContactDeals => ("api/v1/contacts", "opportunities"),
            Self::Notes => ("api/v1/notes", "index"),
            Self::Fields => ("api/v1/fields", "index"),
            Self::FieldCreate => ("api/v1/fields", "create"),
            Self::FieldUpdate => ("api/v1/fields", "update"),
            Self::ConversationSearch => ("api/v1/conversations", "search"),
            Self::ConversationShow => ("api/v1/conversations", "show"),
            Self::WebhookResult => ("api/v1/webhook_result", "show"),
            Self::EmailerSchedules => ("api/v1/emailer_schedules", "index"),
            Self::EmailerMessageContent => ("api/v1/emailer_messages", "get_content"),
            Self::EmailerMessageSendStatus => ("api/v1/emailer_messages", "email_send_status"),
            Self::SequenceActivityFeed => ("api/v1/emailer_campaigns", "activity_feed"),
            Self::LabelCreate => ("api/v1/labels", "create"),
            Self::LabelUpdate => ("api/v1/labels", "update"),
            Self::LabelAdd => ("api/v1/labels", "add_entity_ids_to_label_names"),
            Self::LabelRemove => ("api/v1/labels", "remove_entity_ids_from_label_names"),
        }
    }

    /// The name Apollo uses in 403 and 429 sentences, e.g. `api/v1/contacts/search`.
    pub fn route_name(self) -> &'static str {
        match self {
            Self::PeopleSearch => "api/v1/mixed_people/api_search",
            Self::PeopleSearchDeprecated => "api/v1/mixed_people/search",
            Self::PeopleMatch => "api/v1/people/match",
            Self::PeopleBulkMatch => "api/v1/people/bulk_match",
            Self::OrganizationSearch => "api/v1/mixed_companies/search",
            Self::OrganizationEnrich => "api/v1/organizations/enrich",
            Self::ContactCreate => "api/v1/contacts/create",
            Self::ContactUpdate => "api/v1/contacts/update",
            Self::ContactSearch => "api/v1/contacts/search",
            Self::AccountCreate => "api/v1/accounts/create",
            Self::AccountUpdate => "api/v1/accounts/update",
            Self::AccountSearch => "api/v1/accounts/search",
            Self::SequenceSearch => "api/v1/emailer_campaigns/search",
            Self::SequenceAddContacts => "api/v1/emailer_campaigns/add_contact_ids",
            Self::TaskCreate => "api/v1/tasks/create",
            Self::TaskSearch => "api/v1/tasks/search",
            Self::DealCreate => "api/v1/opportunities/create",
            Self::DealUpdate => "api/v1/opportunities/update",
            Self::DealSearch => "api/v1/opportunities/search",
            Self::UserSearch => "api/v1/users/search",
            Self::ApiUsageStats => "api/v1/usage_stats/api_usage_stats",
            Self::CreditUsageStats => "api/v1/usage_stats/credit_usage_stats",
            Self::PersonShow => "api/v1/people/show",
            Self::OrganizationShow => "api/v1/organizations/show",
            Self::OrganizationBulkEnrich => "api/v1/organizations/bulk_enrich",
            Self::OrganizationJobPostings => "api/v1/organizations/job_postings",
            Self::NewsArticleSearch => "api/v1/news_articles/search",
            Self::ContactShow => "api/v1/contacts/show",
            Self::ContactBulkCreate => "api/v1/contacts/bulk_create",
            Self::ContactBulkUpdate => "api/v1/contacts/bulk_update",
            Self::ContactUpdateStages => "api/v1/contacts/update_stages",
            Self::ContactUpdateOwners => "api/v1/contacts/update_owners",
            Self::ContactStages => "api/v1/contact_stages/index",
            Self::Labels => "api/v1/labels/index",
            Self::CustomFields => "api/v1/typed_custom_fields/index",
            Self::AccountShow => "api/v1/accounts/show",
            Self::AccountBulkCreate => "api/v1/accounts/bulk_create",
            Self::AccountBulkUpdate => "api/v1/accounts/bulk_update",
            Self::AccountUpdateOwners => "api/v1/accounts/update_owners",
            Self::AccountStages => "api/v1/account_stages/index",
            Self::SequenceRemoveContacts => "api/v1/emailer_campaigns/remove_or_stop_contact_ids",
            Self::EmailAccounts => "api/v1/email_accounts/index",
            Self::DealShow => "api/v1/opportunities/show",
            Self::DealStages => "api/v1/opportunity_stages/index",
            Self::CallCreate => "api/v1/phone_calls/create",
            Self::CallSearch => "api/v1/phone_calls/search",
            Self::CallUpdate => "api/v1/phone_calls/update",
            Self::UserProfile => "api/v1/users/api_profile",
            Self::AuthHealth => "api/v1/auth/health",
            Self::EmailerMessageSearch => "api/v1/emailer_messages/search",
            Self::EmailerMessageActivities => "api/v1/emailer_messages/activities",
            Self::EmailerMessageSendNow => "api/v1/emailer_messages/send_now",
            Self::SequenceApprove => "api/v1/emailer_campaigns/approve",
            Self::SequenceAbort => "api/v1/emailer_campaigns/abort",
            Self::SequenceArchive => "api/v1/emailer_campaigns/archive",
            Self::TaskShow => "api/v1/tasks/show",
            Self::TaskUpdate => "api/v1/tasks/update",
            Self::TaskComplete => "api/v1/tasks/complete",
            Self::TaskSkip => "api/v1/tasks/skip",
            Self::TaskBulkCreate => "api/v1/tasks/bulk_create",
            Self::ContactDeals => "api/v1/contacts/opportunities",
            Self::Notes => "api/v1/notes/index",
            Self::Fields => "api/v1/fields/index",
            Self::FieldCreate => "api/v1/fields/create",
            Self::FieldUpdate => "api/v1/fields/update",
            Self::ConversationSearch => "api/v1/conversations/search",
            Self::ConversationShow => "api/v1/conversations/show",
            Self::WebhookResult => "api/v1/webhook_result/show",
            Self::EmailerSchedules => "api/v1/emailer_schedules/index",
            Self::EmailerMessageContent => "api/v1/emailer_messages/get_content",
            Self::EmailerMessageSendStatus => "api/v1/emailer_messages/email_send_status",
            Self::SequenceActivityFeed => "api/v1/emailer_campaigns/activity_feed",
            Self::LabelCreate => "api/v1/labels/create",
            Self::LabelUpdate => "api/v1/labels/update",
            Self::LabelAdd => "api/v1/labels/add_entity_ids_to_label_names",
            Self::LabelRemove => "api/v1/labels/remove_entity_ids_from_label_names",
        }
    }

    /// Endpoints a scoped key cannot reach.
    pub fn master_only(self) -> bool {
        matches!(
            self,
            Self::SequenceSearch
                | Self::SequenceAddContacts
                | Self::TaskCreate
                | Self::TaskSearch
                | Self::DealCreate
                | Self::DealUpdate
                | Self::DealSearch
                | Self::UserSearch
                | Self::ApiUsageStats
                | Self::CreditUsageStats
                | Self::OrganizationShow
                | Self::CustomFields
                | Self::SequenceRemoveContacts
                | Self::EmailAccounts
                | Self::DealShow
                | Self::DealStages
                | Self::CallCreate
                | Self::CallSearch
                | Self::CallUpdate
                | Self::EmailerMessageActivities
        )
    }

    /// Bulk endpoints get a tenth of the plan's rate limits.
    pub fn is_bulk(self) -> bool {
        matches!(self, Self::PeopleBulkMatch | Self::OrganizationBulkEnrich)
    }
}

/// A resolved request: the endpoint and the record id in its path, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: Endpoint,
    pub path_id: Option<String>,
}

/// Resolves a method and path under `/api/v1` or `/v1`. `None` is Apollo's 404: an unknown
/// path, or a known path with a verb Apollo does not route.
pub fn resolve(method: &str, path: &str) -> Option<Resolved> {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/v1/"))?;
    let rest = rest.trim_end_matches('/');
    // Rails routes accept a format suffix.
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let read = matches!(method, "GET" | "POST");
    let post = method == "POST";
    let get = method == "GET";
    let update = matches!(method, "PATCH" | "PUT");
    let fixed = |endpoint, ok: bool| {
        ok.then_some(Resolved {
            endpoint,
            path_id: None,
        })
    };
    let with_id = |endpoint, id: &str, ok: bool| {
        (ok && !id.is_empty()).then(|| Resolved {
            endpoint,
            path_id: Some(crate::args::decode(id)),
        })
    };
    use Endpoint as E;
    match segments.as_slice() {
        ["mixed_people", "api_search"] => fixed(E::PeopleSearch, read),
        ["mixed_people", "search"] => fixed(E::PeopleSearchDeprecated, read),
        ["people", "match"] => fixed(E::PeopleMatch, post),
        ["people", "bulk_match"] => fixed(E::PeopleBulkMatch, post),
        ["mixed_companies", "search"] => fixed(E::OrganizationSearch, read),
        ["organizations", "enrich"] => fixed(E::OrganizationEnrich, read),
        ["people", id] if get => with_id(E::PersonShow, id, true),
        ["organizations", "bulk_enrich"] => fixed(E::OrganizationBulkEnrich, post),
        ["organizations", id, "job_postings"] => with_id(E::OrganizationJobPostings, id, get),
        ["organizations", id] if get => with_id(E::OrganizationShow, id, true),
        ["news_articles", "search"] => fixed(E::NewsArticleSearch, read),
        ["contacts"] => fixed(E::ContactCreate, post),
        ["contacts", "search"] if read => fixed(E::ContactSearch, true),
        ["contacts", "bulk_create"] => fixed(E::ContactBulkCreate, post),
        ["contacts", "bulk_update"] => fixed(E::ContactBulkUpdate, post),
        ["contacts", "update_stages"] => fixed(E::ContactUpdateStages, post),
        ["contacts", "update_owners"] => fixed(E::ContactUpdateOwners, post),
        ["contacts", id] if get => with_id(E::ContactShow, id, true),
        ["contacts", id] => with_id(E::ContactUpdate, id, update),
        ["contact_stages"] => fixed(E::ContactStages, get),
        ["labels"] if post => fixed(E::LabelCreate, true),
        ["labels"] => fixed(E::Labels, get),
        ["labels", "add_entity_ids_to_label_names"] => fixed(E::LabelAdd, post),
        ["labels", "remove_entity_ids_from_label_names"] => fixed(E::LabelRemove, post),
        ["labels", id] => with_id(E::LabelUpdate, id, update),
        ["emailer_schedules"] => fixed(E::EmailerSchedules, get),
        ["emailer_messages", "get_content"] => fixed(E::EmailerMessageContent, post),
        ["emailer_messages", "email_send_status"] => fixed(E::EmailerMessageSendStatus, post),
        ["emailer_campaigns", "activity_feed"] => fixed(E::SequenceActivityFeed, post),
        ["typed_custom_fields"] => fixed(E::CustomFields, get),
        ["accounts"] => fixed(E::AccountCreate, post),
        ["accounts", "search"] if read => fixed(E::AccountSearch, true),
        ["accounts", "bulk_create"] => fixed(E::AccountBulkCreate, post),
        ["accounts", "bulk_update"] => fixed(E::AccountBulkUpdate, post),
        ["accounts", "update_owners"] => fixed(E::AccountUpdateOwners, post),
        ["accounts", id] if get => with_id(E::AccountShow, id, true),
        ["accounts", id] => with_id(E::AccountUpdate, id, update),
        ["account_stages"] => fixed(E::AccountStages, get),
        ["emailer_campaigns", "remove_or_stop_contact_ids"] => {
            fixed(E::SequenceRemoveContacts, post)
        }
        ["email_accounts"] => fixed(E::EmailAccounts, get),
        ["opportunity_stages"] => fixed(E::DealStages, get),
        ["phone_calls"] => fixed(E::CallCreate, post),
        ["phone_calls", "search"] => fixed(E::CallSearch, read),
        ["phone_calls", id] => with_id(E::CallUpdate, id, update),
        ["users", "api_profile"] => fixed(E::UserProfile, get),
        ["auth", "health"] => fixed(E::AuthHealth, get),
        ["emailer_campaigns", "search"] => fixed(E::SequenceSearch, read),
        ["emailer_campaigns", id, "add_contact_ids"] => with_id(E::SequenceAddContacts, id, post),
        ["tasks"] => fixed(E::TaskCreate, post),
        ["tasks", "search"] => fixed(E::TaskSearch, read),
        ["opportunities"] => fixed(E::DealCreate, post),
        ["opportunities", "search"] if read => fixed(E::DealSearch, true),
        ["opportunities", id] if get => with_id(E::DealShow, id, true),
        ["opportunities", id] => with_id(E::DealUpdate, id, update),
        ["users", "search"] => fixed(E::UserSearch, read),
        ["usage_stats", "api_usage_stats"] => fixed(E::ApiUsageStats, read),
        ["usage_stats", "credit_usage_stats"] => fixed(E::CreditUsageStats, read),
        ["emailer_messages", "search"] => fixed(E::EmailerMessageSearch, read),
        ["emailer_messages", id, "activities"] => with_id(E::EmailerMessageActivities, id, get),
        ["emailer_messages", id, "send_now"] => with_id(E::EmailerMessageSendNow, id, post),
        ["emailer_campaigns", id, "approve"] => with_id(E::SequenceApprove, id, post),
        ["emailer_campaigns", id, "abort"] => with_id(E::SequenceAbort, id, post),
        ["emailer_campaigns", id, "archive"] => with_id(E::SequenceArchive, id, post),
        ["tasks", "bulk_create"] => fixed(E::TaskBulkCreate, post),
        ["tasks", id, "complete"] => with_id(E::TaskComplete, id, post),
        ["tasks", id, "skip"] => with_id(E::TaskSkip, id, post),
        ["tasks", id] if get => with_id(E::TaskShow, id, true),
        ["tasks", id] => with_id(E::TaskUpdate, id, update),
        ["contacts", id, "opportunities"] => with_id(E::ContactDeals, id, post),
        ["notes"] => fixed(E::Notes, get),
        ["fields"] if get => fixed(E::Fields, true),
        ["fields"] if post => fixed(E::FieldCreate, true),
        ["fields"] => fixed(E::FieldUpdate, method == "PATCH"),
        ["conversations", "search"] => fixed(E::ConversationSearch, read),
        ["conversations", id] => with_id(E::ConversationShow, id, get),
        ["webhook_result", id] => with_id(E::WebhookResult, id, get),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_both_prefixes_and_loose_verbs() {
        let search = resolve("GET", "/v1/mixed_people/api_search").expect("routes");
        assert_eq!(search.endpoint, Endpoint::PeopleSearch);
        assert_eq!(
            resolve("POST", "/api/v1/mixed_people/api_search/"),
            Some(search)
        );
        let update = resolve("PUT", "/api/v1/contacts/abc").expect("routes");
        assert_eq!(update.path_id.as_deref(), Some("abc"));
        assert!(resolve("DELETE", "/api/v1/contacts/abc").is_none());
        assert!(resolve("GET", "/api/v2/contacts/search").is_none());
        assert!(resolve("GET", "/api/v1/people/match").is_none());
    }

    #[test]
    fn all_lists_every_endpoint_at_its_index() {
        for (i, endpoint) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(endpoint.index(), i);
            let (controller, action) = endpoint.controller_action();
            assert!(endpoint.route_name().starts_with(controller));
            assert!(endpoint.route_name().ends_with(action));
        }
    }
}
