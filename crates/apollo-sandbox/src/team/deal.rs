//! Deals (Apollo's `opportunities`) and users.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Record, Team, id_arg, object, search_answer, sort_field, sort_records, text};
use crate::args::Args;
use crate::clock::format_time;
use crate::error::ApiError;

fn apply_deal_fields(
    team: &mut Team,
    deal: &mut Record,
    args: &Args,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if let Some(name) = args.str("name")? {
        deal.insert("name".into(), json!(name));
    }
    if args.contains("amount") {
        // Apollo documents the amount as digits in a string; it answers with a number.
        let amount = args
            .number("amount")
            .map_err(|_| ApiError::unprocessable("amount must be a number, such as \"15000\"."))?;
        deal.insert("amount".into(), json!(amount));
    }
    if let Some(date) = args.str("closed_date")? {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        if time::Date::parse(&date, &format).is_err() {
            return Err(ApiError::unprocessable(format!(
                "closed_date must be a date as YYYY-MM-DD: {date}"
            )));
        }
        deal.insert("closed_date".into(), json!(date));
    }
    for key in ["owner_id", "account_id"] {
        if let Some(id) = id_arg(args, key)? {
            deal.insert(key.into(), json!(id));
        }
    }
    if let Some(stage_id) = id_arg(args, "opportunity_stage_id")? {
        let Some(stage) = team.opportunity_stages.get(&stage_id) else {
            return Err(ApiError::unprocessable("Opportunity stage does not exist."));
        };
        for key in ["is_closed", "is_won", "probability"] {
            deal.insert(key.into(), stage.get(key).cloned().unwrap_or(Value::Null));
        }
        deal.insert("stage_name".into(), json!(text(stage, "name")));
        deal.insert("opportunity_stage_id".into(), json!(stage_id));
    }
    if let Some(fields) = args.object("typed_custom_fields")? {
        deal.insert("typed_custom_fields".into(), Value::Object(fields));
    }
    deal.insert("updated_at".into(), json!(format_time(now)));
    Ok(())
}

/// `POST /opportunities`.
pub fn create_deal(team: &mut Team, args: &Args, now: OffsetDateTime) -> Result<Value, ApiError> {
    if args.str("name")?.is_none() {
        return Err(ApiError::unprocessable("Name is required"));
    }
    let id = team.new_id();
    let mut deal = object(json!({
        "id": id, "team_id": team.team_id, "owner_id": team.first_user_id(),
        "salesforce_owner_id": null, "amount": null, "closed_date": null, "account_id": null,
        "description": null, "is_closed": false, "is_won": false, "name": null,
        "stage_name": null, "opportunity_stage_id": null, "probability": null, "source": "api",
        "created_at": format_time(now), "updated_at": format_time(now),
        "typed_custom_fields": {}, "currency": {"name": "US Dollar", "iso_code": "USD", "symbol": "$"},
        "forecast_category": null, "deal_probability": null, "closed_lost_reason": null,
        "closed_won_reason": null, "existence_level": "full",
    }));
    apply_deal_fields(team, &mut deal, args, now)?;
    team.deals.insert(deal.clone());
    Ok(json!({"opportunity": deal}))
}

/// `PATCH /opportunities/{id}`.
pub fn update_deal(
    team: &mut Team,
    id: &str,
    args: &Args,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let Some(mut deal) = team.deals.get(id).cloned() else {
        return Err(ApiError::unprocessable("Opportunity does not exist."));
    };
    apply_deal_fields(team, &mut deal, args, now)?;
    if let Some(slot) = team.deals.get_mut(id) {
        *slot = deal.clone();
    }
    Ok(json!({"opportunity": deal}))
}

/// `GET /opportunities/search`.
pub fn search_deals(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let sort = sort_field(args, &["amount", "is_closed", "is_won"])?;
    let ascending = args.flag("sort_ascending")?;
    let name = args.str("q_opportunity_name")?.map(|n| n.to_lowercase());
    let mut rows: Vec<&Record> = team
        .deals
        .rows()
        .iter()
        .filter(|d| {
            name.as_ref()
                .is_none_or(|n| text(d, "name").to_lowercase().contains(n.as_str()))
        })
        .collect();
    let key = sort.unwrap_or("created_at");
    sort_records(
        &mut rows,
        |r| r.get(key).cloned().unwrap_or(Value::Null),
        ascending,
    );
    search_answer(args, "opportunities", rows, |_| {})
}

/// `GET /users/search`.
pub fn search_users(team: &Team, args: &Args) -> Result<Value, ApiError> {
    let rows: Vec<&Record> = team.users.rows().iter().collect();
    search_answer(args, "users", rows, |_| {})
}
