//! Dispatch from a resolved endpoint to its handler. Handlers are synchronous: they take
//! short locks, compute the answer, and schedule any webhook in the background.

mod admin;
mod organization;
mod people;
mod usage;

pub use admin::handle as admin;

use serde_json::Value;

use crate::args::Args;
use crate::endpoint::{Endpoint, Resolved};
use crate::error::ApiError;
use crate::state::State;
use crate::team;

/// A successful answer's body.
#[derive(Debug)]
pub enum Reply {
    Json(Value),
    /// Already-serialised JSON (searches splice pre-rendered records).
    Raw(String),
}

pub fn dispatch(state: &State, resolved: &Resolved, args: &Args) -> Result<Reply, ApiError> {
    let now = state.config.clock.now();
    let id = resolved.path_id.as_deref().unwrap_or("");
    let db = &state.db;
    let json = |value: Result<Value, ApiError>| value.map(Reply::Json);
    match resolved.endpoint {
        Endpoint::PeopleSearch => people::search(state, args),
        Endpoint::PeopleSearchDeprecated => Err(ApiError::unprocessable(
            "mixed_people/search is deprecated for API callers. Please use mixed_people/api_search instead.",
        )),
        Endpoint::PeopleMatch => json(people::enrich(state, args)),
        Endpoint::PeopleBulkMatch => json(people::bulk_enrich(state, args)),
        Endpoint::OrganizationSearch => organization::search(state, args),
        Endpoint::OrganizationEnrich => json(organization::enrich(state, args)),
        Endpoint::ContactCreate => json(team::create_contact(&mut state.team_mut(), db, args, now)),
        Endpoint::ContactUpdate => json(team::update_contact(
            &mut state.team_mut(),
            db,
            id,
            args,
            now,
        )),
        Endpoint::ContactSearch => json(team::search_contacts(&state.team(), args)),
        Endpoint::AccountCreate => json(team::create_account(&mut state.team_mut(), db, args, now)),
        Endpoint::AccountUpdate => json(team::update_account(
            &mut state.team_mut(),
            db,
            id,
            args,
            now,
        )),
        Endpoint::AccountSearch => json(team::search_accounts(&state.team(), args)),
        Endpoint::SequenceSearch => json(team::search_sequences(&state.team(), args)),
        Endpoint::SequenceAddContacts => json(team::add_contacts_to_sequence(
            &mut state.team_mut(),
            id,
            args,
            now,
        )),
        Endpoint::TaskCreate => json(team::create_task(&mut state.team_mut(), args, now)),
        Endpoint::TaskSearch => json(team::search_tasks(&state.team(), args)),
        Endpoint::DealCreate => json(team::create_deal(&mut state.team_mut(), args, now)),
        Endpoint::DealUpdate => json(team::update_deal(&mut state.team_mut(), id, args, now)),
        Endpoint::DealSearch => json(team::search_deals(&state.team(), args)),
        Endpoint::UserSearch => json(team::search_users(&state.team(), args)),
        Endpoint::ApiUsageStats => Ok(Reply::Json(usage::api_usage(state, now))),
        Endpoint::CreditUsageStats => Ok(Reply::Json(usage::credit_usage(state, now))),
        Endpoint::PersonShow => json(people::show(state, id)),
        Endpoint::OrganizationShow => json(organization::show(state, id)),
        Endpoint::OrganizationBulkEnrich => json(organization::bulk_enrich(state, args)),
        Endpoint::OrganizationJobPostings => json(organization::job_postings(state, id, args)),
        Endpoint::NewsArticleSearch => json(organization::news(state, args)),
        Endpoint::ContactShow => json(team::show_contact(&state.team(), id)),
        Endpoint::ContactBulkCreate => json(team::bulk_create_contacts(
            &mut state.team_mut(),
            db,
            args,
            now,
        )),
        Endpoint::ContactBulkUpdate => json(team::bulk_update_contacts(
            &mut state.team_mut(),
            db,
            args,
            now,
        )),
        Endpoint::ContactUpdateStages => json(team::update_contact_stages(
            &mut state.team_mut(),
            args,
            now,
        )),
        Endpoint::ContactUpdateOwners => {
            json(team::update_owners(&mut state.team_mut(), args, false, now))
        }
        Endpoint::ContactStages => Ok(Reply::Json(team::list(&state.team(), "contact_stages"))),
        Endpoint::Labels => Ok(Reply::Json(team::list(&state.team(), "labels"))),
        Endpoint::CustomFields => Ok(Reply::Json(team::list(
            &state.team(),
            "typed_custom_fields",
        ))),
        Endpoint::AccountShow => json(team::show_account(&state.team(), id)),
        Endpoint::AccountBulkCreate => json(team::bulk_create_accounts(
            &mut state.team_mut(),
            db,
            args,
            now,
        )),
        Endpoint::AccountBulkUpdate => json(team::bulk_update_accounts(
            &mut state.team_mut(),
            db,
            args,
            now,
        )),
        Endpoint::AccountUpdateOwners => {
            json(team::update_owners(&mut state.team_mut(), args, true, now))
        }
        Endpoint::AccountStages => Ok(Reply::Json(team::list(&state.team(), "account_stages"))),
        Endpoint::SequenceRemoveContacts => {
            json(team::remove_or_stop(&mut state.team_mut(), args, now))
        }
        Endpoint::EmailAccounts => Ok(Reply::Json(team::list(&state.team(), "email_accounts"))),
        Endpoint::DealShow => json(team::show_deal(&state.team(), id)),
        Endpoint::DealStages => Ok(Reply::Json(team::list(&state.team(), "opportunity_stages"))),
        Endpoint::CallCreate => json(team::create_call(&mut state.team_mut(), args, now)),
        Endpoint::CallSearch => json(team::search_calls(&state.team(), args)),
        Endpoint::CallUpdate => json(team::update_call(&mut state.team_mut(), id, args, now)),
        Endpoint::UserProfile => json(team::api_profile(
            &state.team(),
            args,
            state.credits.snapshot().total(),
        )),
        Endpoint::AuthHealth => Ok(Reply::Json(
            serde_json::json!({"healthy": true, "is_logged_in": true}),
        )),
        Endpoint::EmailerMessageSearch => json(team::search_messages(&state.team(), args)),
        Endpoint::EmailerMessageActivities => json(team::message_activities(&state.team(), id)),
        Endpoint::EmailerMessageSendNow => json(team::send_now(&mut state.team_mut(), id, now)),
        Endpoint::SequenceApprove => json(team::switch_sequence(
            &mut state.team_mut(),
            id,
            team::Switch::Approve,
            now,
        )),
        Endpoint::SequenceAbort => json(team::switch_sequence(
            &mut state.team_mut(),
            id,
            team::Switch::Abort,
            now,
        )),
        Endpoint::SequenceArchive => json(team::switch_sequence(
            &mut state.team_mut(),
            id,
            team::Switch::Archive,
            now,
        )),
        Endpoint::TaskShow => json(team::show_task(&state.team(), id)),
        Endpoint::TaskUpdate => json(team::update_task(&mut state.team_mut(), id, args, now)),
        Endpoint::TaskComplete => json(team::finish_task(
            &mut state.team_mut(),
            id,
            args,
            true,
            now,
        )),
        Endpoint::TaskSkip => json(team::finish_task(
            &mut state.team_mut(),
            id,
            args,
            false,
            now,
        )),
        Endpoint::TaskBulkCreate => json(team::bulk_create_tasks(&mut state.team_mut(), args, now)),
        Endpoint::ContactDeals => Ok(Reply::Json(team::contact_deals(&state.team(), id))),
        Endpoint::Notes => json(team::list_notes(&state.team(), args)),
        Endpoint::Fields => json(team::list_fields(&state.team(), args)),
        Endpoint::FieldCreate => json(team::create_field(&mut state.team_mut(), args, now)),
        Endpoint::FieldUpdate => json(team::update_fields(&mut state.team_mut(), args)),
        Endpoint::ConversationSearch => json(team::search_conversations(&state.team(), args)),
        Endpoint::ConversationShow => {
            let conversation = team::show_conversation(&state.team(), id)?;
            // "0-1 credit per conversation": 1 when it has AI insights.
            if conversation.get("has_ai_insights") == Some(&Value::Bool(true)) {
                state
                    .credits
                    .charge(crate::credit::CreditKind::ConversationInsights, 1.0);
            }
            Ok(Reply::Json(Value::Object(conversation)))
        }
        Endpoint::WebhookResult => json(people::webhook_result(state, id)),
        Endpoint::EmailerSchedules => Ok(Reply::Json(team::email_schedules(&state.team()))),
        Endpoint::EmailerMessageContent => json(team::message_content(&state.team(), args)),
        Endpoint::EmailerMessageSendStatus => json(team::send_status(&state.team(), args)),
        Endpoint::SequenceActivityFeed => json(team::activity_feed(&state.team(), args)),
        Endpoint::LabelCreate => json(team::create_list(&mut state.team_mut(), args, now)),
        Endpoint::LabelUpdate => json(team::rename_list(&mut state.team_mut(), id, args, now)),
        Endpoint::LabelAdd => json(team::list_members(&mut state.team_mut(), args, true, now)),
        Endpoint::LabelRemove => json(team::list_members(&mut state.team_mut(), args, false, now)),
    }
}

/// Serialises an envelope and appends one more key whose value is pre-rendered JSON.
pub fn splice(envelope: serde_json::Map<String, Value>, key: &str, raw: &str) -> String {
    let mut out = Value::Object(envelope).to_string();
    out.pop(); // the closing brace
    if out.len() > 1 {
        out.push(',');
    }
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    out.push_str(raw);
    out.push('}');
    out
}
