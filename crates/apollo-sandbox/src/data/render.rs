//! How people and organizations look in Apollo's JSON: the partial form search returns
//! (obfuscated, no contact data) and the full form enrichment returns.

use serde_json::{Value, json};

use super::{Database, Organization, Person};

/// "Hudson" -> "Hu***n", as people search shows last names.
pub fn obfuscate(last_name: &str) -> String {
    let chars: Vec<char> = last_name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=3 => format!("{}***{}", chars[0], chars[chars.len() - 1]),
        _ => format!("{}{}***{}", chars[0], chars[1], chars[chars.len() - 1]),
    }
}

fn printed(amount: u64) -> String {
    match amount {
        a if a >= 1_000_000_000 => format!("{:.1}B", a as f64 / 1e9),
        a if a >= 1_000_000 => format!("{:.1}M", a as f64 / 1e6),
        a if a >= 1_000 => format!("{:.1}K", a as f64 / 1e3),
        a => a.to_string(),
    }
}

/// An organization as organization search lists it (and as it is nested in a person).
pub fn organization_summary(org: &Organization) -> Value {
    let (city, state, country, _) = super::LOCATIONS[org.location];
    json!({
        "id": org.id,
        "name": org.name,
        "website_url": format!("http://www.{}", org.domain),
        "blog_url": null,
        "angellist_url": null,
        "linkedin_url": format!("http://www.{}", org.linkedin_slug),
        "twitter_url": null,
        "facebook_url": null,
        "primary_phone": {"number": org.phone.raw, "source": "Scraped", "sanitized_number": org.phone.sanitized},
        "languages": [],
        "alexa_ranking": null,
        "phone": org.phone.raw,
        "linkedin_uid": null,
        "founded_year": org.founded_year,
        "publicly_traded_symbol": null,
        "publicly_traded_exchange": null,
        "logo_url": format!("https://static.sandbox.apollo.invalid/logos/{}.png", org.id),
        "crunchbase_url": null,
        "primary_domain": org.domain,
        "sanitized_phone": org.phone.sanitized,
        "industry": super::INDUSTRIES[org.industry].0,
        "estimated_num_employees": org.employees,
        "city": city,
        "state": state,
        "country": country,
        "owned_by_organization_id": null,
        "organization_revenue": org.annual_revenue,
        "organization_revenue_printed": printed(org.annual_revenue),
    })
}

/// An organization as enrichment returns it: the summary plus firmographics.
pub fn organization_full(db: &Database, org: &Organization) -> Value {
    let mut value = organization_summary(org);
    let (industry, keywords) = db.industry(org);
    let (city, state, country) = db.location(org.location);
    let technologies: Vec<Value> = org
        .technologies
        .iter()
        .map(|t| {
            let (name, category) = db.technology(*t);
            json!({"uid": technology_uid(name), "name": name, "category": category})
        })
        .collect();
    let names: Vec<&str> = org
        .technologies
        .iter()
        .map(|t| db.technology(*t).0)
        .collect();
    if let Value::Object(map) = &mut value {
        let extra = json!({
            "keywords": keywords,
            "industries": [industry],
            "secondary_industries": [],
            "annual_revenue": org.annual_revenue,
            "annual_revenue_printed": printed(org.annual_revenue),
            "total_funding": org.total_funding,
            "total_funding_printed": org.total_funding.map(printed),
            "technology_names": names,
            "current_technologies": technologies,
            "street_address": org.street,
            "raw_address": format!("{}, {city}, {state}, {country}", org.street),
            "short_description": format!("{} is a {industry} company based in {city}.", org.name),
            "seo_description": format!("{} - {}", org.name, keywords.join(", ")),
            "departmental_head_count": {},
        });
        if let Value::Object(extra) = extra {
            map.extend(extra);
        }
    }
    value
}

/// `Google Analytics` -> `google_analytics`, Apollo's technology uid.
pub fn technology_uid(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A person as people search lists them: no email, phone or full last name.
pub fn person_summary(db: &Database, index: usize) -> Value {
    let person = &db.people[index];
    let org = &db.organizations[person.organization];
    json!({
        "id": person.id,
        "first_name": person.first_name,
        "last_name_obfuscated": obfuscate(&person.last_name),
        "title": db.titles[person.title].text,
        "last_refreshed_at": person.last_refreshed_at,
        "has_email": person.email.is_some(),
        "has_city": true,
        "has_state": true,
        "has_country": true,
        "has_direct_phone": if person.mobile.is_some() { "Yes" } else { "Maybe: please request direct dial via people/bulk_match" },
        "organization": {
            "name": org.name,
            "has_industry": true,
            "has_phone": true,
            "has_city": true,
            "has_state": true,
            "has_country": true,
            "has_zip_code": false,
            "has_revenue": true,
            "has_employee_count": true,
        },
    })
}

/// What enrichment may show of a person's private data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reveal {
    pub personal_emails: bool,
    pub phone_numbers: bool,
    /// Whether the team has revealed this person before (`revealed_for_current_team`).
    pub revealed_for_team: bool,
}

/// Apollo's phone number objects for a person (empty without a mobile).
pub fn phone_numbers(person: &Person) -> Value {
    match &person.mobile {
        Some(phone) => json!([{
            "raw_number": phone.raw,
            "sanitized_number": phone.sanitized,
            "type": "mobile",
            "position": 0,
            "status": "no_status",
            "dnc_status": null,
            "dnc_other_info": null,
            "dialer_flags": null,
        }]),
        None => json!([]),
    }
}

/// A person as enrichment returns them.
pub fn person_full(db: &Database, index: usize, reveal: Reveal) -> Value {
    let person = &db.people[index];
    let org = &db.organizations[person.organization];
    let (city, state, country) = db.location(person.location);
    let title = &db.titles[person.title].text;
    let history: Vec<Value> = person
        .jobs
        .iter()
        .map(|job| {
            let at = &db.organizations[job.organization];
            json!({
                "_id": job.id,
                "id": job.id,
                "created_at": null,
                "current": job.end_year.is_none(),
                "degree": null,
                "description": null,
                "emails": null,
                "end_date": job.end_year.map(|y| format!("{y}-01-01")),
                "grade_level": null,
                "kind": null,
                "major": null,
                "organization_id": at.id,
                "organization_name": at.name,
                "raw_address": null,
                "start_date": format!("{}-01-01", job.start_year),
                "title": db.titles[job.title].text,
                "updated_at": null,
                "key": job.id,
            })
        })
        .collect();
    let mut value = json!({
        "id": person.id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "name": person.name(),
        "linkedin_url": person.linkedin_url,
        "title": title,
        "email_status": if person.email.is_some() { Value::from(person.email_status) } else { Value::Null },
        "photo_url": person.photo_url,
        "twitter_url": null,
        "github_url": null,
        "facebook_url": null,
        "extrapolated_email_confidence": null,
        "headline": format!("{title} at {}", org.name),
        "email": person.email,
        "organization_id": org.id,
        "employment_history": history,
        "state": state,
        "city": city,
        "country": country,
        "organization": organization_full(db, org),
        "departments": db.departments(person.title),
        "subdepartments": [],
        "seniority": db.seniority(person.title),
        "functions": [],
        "intent_strength": null,
        "show_intent": false,
        "email_domain_catchall": false,
        "revealed_for_current_team": reveal.revealed_for_team,
    });
    if let Value::Object(map) = &mut value {
        if reveal.personal_emails {
            map.insert("personal_emails".into(), json!(person.personal_emails));
        }
        if reveal.phone_numbers {
            map.insert("phone_numbers".into(), phone_numbers(person));
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obfuscates_like_apollo() {
        assert_eq!(obfuscate("Hudson"), "Hu***n");
        assert_eq!(obfuscate("Lee"), "L***e");
        assert_eq!(obfuscate("Ng"), "N***g");
    }

    #[test]
    fn technology_uids_are_snake_case() {
        assert_eq!(technology_uid("Google Analytics"), "google_analytics");
        assert_eq!(technology_uid("WordPress.org"), "wordpress_org");
    }
}
