//! Search over the prospect database. Every filter is compiled once per query into
//! tables over the small sets people are drawn from (titles, locations, organizations),
//! so checking a person is a handful of array lookups; an unfiltered search is a slice.

use serde_json::{Value, json};

use super::{Bitset, Database, EMAIL_STATUSES, SENIORITIES, render::technology_uid, title_words};
use crate::args::{Args, ArgsError};
use crate::paging::Paging;

/// One page of results and the total number of matches.
#[derive(Debug)]
pub struct SearchPage {
    pub total: usize,
    pub items: Vec<usize>,
}

/// Filters shared by people and organization search: they select organizations.
#[derive(Debug, Default)]
struct OrgCriteria {
    domains: Vec<String>,
    ids: Vec<String>,
    locations: Vec<String>,
    not_locations: Vec<String>,
    employee_ranges: Vec<(u64, u64)>,
    revenue: (Option<f64>, Option<f64>),
    funding: (Option<f64>, Option<f64>),
    tech_any: Vec<String>,
    tech_all: Vec<String>,
    tech_none: Vec<String>,
    keyword_tags: Vec<String>,
    name: Option<String>,
}

impl OrgCriteria {
    fn from_args(args: &Args) -> Result<Self, ArgsError> {
        Ok(Self {
            domains: args
                .strings("q_organization_domains_list")?
                .iter()
                .take(1_000)
                .map(|d| super::normalize_domain(d))
                .collect(),
            ids: args.strings("organization_ids")?,
            locations: args.strings("organization_locations")?,
            not_locations: args.strings("organization_not_locations")?,
            employee_ranges: args
                .strings("organization_num_employees_ranges")?
                .iter()
                .filter_map(|r| parse_range(r))
                .collect(),
            revenue: args.range("revenue_range")?,
            funding: args.range("total_funding_range")?,
            tech_any: lower(args.strings("currently_using_any_of_technology_uids")?),
            tech_all: lower(args.strings("currently_using_all_of_technology_uids")?),
            tech_none: lower(args.strings("currently_not_using_any_of_technology_uids")?),
            keyword_tags: lower(args.strings("q_organization_keyword_tags")?),
            name: args.str("q_organization_name")?.map(|n| n.to_lowercase()),
        })
    }

    fn is_empty(&self) -> bool {
        self.domains.is_empty()
            && self.ids.is_empty()
            && self.locations.is_empty()
            && self.not_locations.is_empty()
            && self.employee_ranges.is_empty()
            && self.revenue == (None, None)
            && self.funding == (None, None)
            && self.tech_any.is_empty()
            && self.tech_all.is_empty()
            && self.tech_none.is_empty()
            && self.keyword_tags.is_empty()
            && self.name.is_none()
    }

    fn breadcrumbs(&self, out: &mut Vec<Value>) {
        crumbs(
            out,
            "Company Domains",
            "q_organization_domains_list",
            &self.domains,
        );
        crumbs(out, "Companies", "organization_ids", &self.ids);
        crumbs(
            out,
            "Company Locations",
            "organization_locations",
            &self.locations,
        );
        crumbs(
            out,
            "Excluded Company Locations",
            "organization_not_locations",
            &self.not_locations,
        );
        crumbs(
            out,
            "Company Keywords",
            "q_organization_keyword_tags",
            &self.keyword_tags,
        );
        if let Some(name) = &self.name {
            crumbs(
                out,
                "Company Name",
                "q_organization_name",
                std::slice::from_ref(name),
            );
        }
    }
}

fn lower(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(|s| s.trim().to_lowercase()).collect()
}

/// `"1,10"` -> (1, 10); `"10001,"` -> (10001, max).
fn parse_range(text: &str) -> Option<(u64, u64)> {
    let (lo, hi) = text.split_once(',')?;
    let lo = lo.trim().parse().ok()?;
    let hi = if hi.trim().is_empty() {
        u64::MAX
    } else {
        hi.trim().parse().ok()?
    };
    Some((lo, hi))
}

fn crumbs(out: &mut Vec<Value>, label: &str, field: &str, values: &[String]) {
    for value in values {
        out.push(json!({"label": label, "signal_field_name": field, "value": value, "display_name": value}));
    }
}

fn in_range(value: f64, (min, max): (Option<f64>, Option<f64>)) -> bool {
    min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
}

/// Which locations match any of the typed location strings ("Austin, Texas", "US").
fn location_table(db: &Database, queries: &[String]) -> Vec<bool> {
    let parsed: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            q.split(',')
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .collect();
    db.location_names
        .iter()
        .map(|names| {
            parsed
                .iter()
                .any(|parts| !parts.is_empty() && parts.iter().all(|p| names.contains(p)))
        })
        .collect()
}

impl Database {
    /// Which organizations pass the organization filters; `None` when there are none.
    fn organization_table(&self, c: &OrgCriteria) -> Option<Vec<bool>> {
        if c.is_empty() {
            return None;
        }
        let domain_set: Option<Vec<bool>> =
            (!c.domains.is_empty() || !c.ids.is_empty()).then(|| {
                let mut set = vec![false; self.organizations.len()];
                for d in &c.domains {
                    if let Some(i) = self.by_domain.get(d) {
                        set[*i] = true;
                    }
                }
                for id in &c.ids {
                    if let Some(i) = self.by_org_id.get(id) {
                        set[*i] = true;
                    }
                }
                set
            });
        let locations = (!c.locations.is_empty()).then(|| location_table(self, &c.locations));
        let not_locations =
            (!c.not_locations.is_empty()).then(|| location_table(self, &c.not_locations));
        let uids: Vec<String> = super::TECHNOLOGIES
            .iter()
            .map(|(name, _)| technology_uid(name))
            .collect();
        let uses = |org: &super::Organization, uid: &String| {
            org.technologies.iter().any(|t| uids[*t] == *uid)
        };
        let table = self
            .organizations
            .iter()
            .enumerate()
            .map(|(i, org)| {
                domain_set.as_ref().is_none_or(|s| s[i])
                    && locations.as_ref().is_none_or(|l| l[org.location])
                    && not_locations.as_ref().is_none_or(|l| !l[org.location])
                    && (c.employee_ranges.is_empty()
                        || c.employee_ranges
                            .iter()
                            .any(|(lo, hi)| (*lo..=*hi).contains(&u64::from(org.employees))))
                    && in_range(org.annual_revenue as f64, c.revenue)
                    && (c.funding == (None, None)
                        || org
                            .total_funding
                            .is_some_and(|f| in_range(f as f64, c.funding)))
                    && (c.tech_any.is_empty() || c.tech_any.iter().any(|u| uses(org, u)))
                    && c.tech_all.iter().all(|u| uses(org, u))
                    && !c.tech_none.iter().any(|u| uses(org, u))
                    && (c.keyword_tags.is_empty() || {
                        let (industry, keywords) = super::INDUSTRIES[org.industry];
                        c.keyword_tags.iter().any(|t| {
                            industry.contains(t.as_str()) || keywords.iter().any(|k| k == t)
                        })
                    })
                    && c.name
                        .as_ref()
                        .is_none_or(|n| org.name_lower.contains(n.as_str()))
            })
            .collect();
        Some(table)
    }

    /// People search (`mixed_people/api_search`). Each filter becomes a set of people
    /// (the union of precomputed per-value sets); the answer is their intersection.
    pub fn search_people(&self, q: &PeopleQuery, paging: Paging) -> SearchPage {
        let n = self.people.len();
        let mut acc: Option<Bitset> = None;
        if !q.titles.is_empty() {
            let wanted: Vec<Vec<String>> = q.titles.iter().map(|t| title_words(t)).collect();
            let matching = self.titles.iter().enumerate().filter(|(_, t)| {
                wanted.iter().any(|w| {
                    !w.is_empty()
                        && if q.similar_titles {
                            w.iter().all(|word| t.words.contains(word))
                        } else {
                            *w == t.words
                        }
                })
            });
            narrow(
                &mut acc,
                Bitset::union(n, matching.map(|(i, _)| &self.sets.titles[i])),
            );
        }
        if !q.seniorities.is_empty() {
            let matching = SENIORITIES
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| q.seniorities.iter().any(|w| w == s));
            narrow(
                &mut acc,
                Bitset::union(n, matching.map(|(i, _)| &self.sets.seniorities[i])),
            );
        }
        if !q.locations.is_empty() {
            let table = location_table(self, &q.locations);
            let matching = table.iter().enumerate().filter(|(_, ok)| **ok);
            narrow(
                &mut acc,
                Bitset::union(n, matching.map(|(i, _)| &self.sets.locations[i])),
            );
        }
        if !q.email_statuses.is_empty() {
            let matching = EMAIL_STATUSES
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| q.email_statuses.iter().any(|w| w == s));
            narrow(
                &mut acc,
                Bitset::union(n, matching.map(|(i, _)| &self.sets.email_statuses[i])),
            );
        }
        if let Some(orgs) = self.organization_table(&q.org) {
            let mut set = Bitset::new(n);
            for (org, _) in orgs.iter().enumerate().filter(|(_, ok)| **ok) {
                for person in &self.staff[org] {
                    set.insert(*person as usize);
                }
            }
            narrow(&mut acc, set);
        }
        if !q.keywords.is_empty() {
            let mut set = acc.take().unwrap_or_else(|| Bitset::full(n));
            set.retain(|i| {
                q.keywords
                    .iter()
                    .all(|k| self.people[i].haystack.contains(k.as_str()))
            });
            acc = Some(set);
        }
        match acc {
            None => SearchPage {
                total: n,
                items: paging.range(n).collect(),
            },
            Some(set) => SearchPage {
                total: set.count(),
                items: set.page(paging.offset(), paging.per_page),
            },
        }
    }

    /// Organization search (`mixed_companies/search`).
    pub fn search_organizations(&self, q: &OrganizationQuery, paging: Paging) -> SearchPage {
        match self.organization_table(&q.org) {
            None => SearchPage {
                total: self.organizations.len(),
                items: paging.range(self.organizations.len()).collect(),
            },
            Some(table) => {
                let matched: Vec<usize> = table
                    .iter()
                    .enumerate()
                    .filter(|(_, ok)| **ok)
                    .map(|(i, _)| i)
                    .collect();
                SearchPage {
                    total: matched.len(),
                    items: matched[paging.range(matched.len())].to_vec(),
                }
            }
        }
    }

    /// A page of people as pre-rendered search JSON, joined into an array.
    pub fn people_json(&self, items: &[usize]) -> String {
        join(items.iter().map(|i| &*self.people[*i].search_json))
    }

    pub fn organizations_json(&self, items: &[usize]) -> String {
        join(items.iter().map(|i| &*self.organizations[*i].search_json))
    }
}

/// Intersects `acc` (everyone, when `None`) with `set`.
fn narrow(acc: &mut Option<Bitset>, set: Bitset) {
    *acc = Some(match acc.take() {
        None => set,
        Some(mut a) => {
            a.and(&set);
            a
        }
    });
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::with_capacity(4096);
    out.push('[');
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(part);
    }
    out.push(']');
    out
}

/// The filters of a people search.
#[derive(Debug, Default)]
pub struct PeopleQuery {
    titles: Vec<String>,
    similar_titles: bool,
    seniorities: Vec<String>,
    locations: Vec<String>,
    email_statuses: Vec<String>,
    keywords: Vec<String>,
    org: OrgCriteria,
}

impl PeopleQuery {
    /// Reads the filters; unknown keys are ignored, as Apollo ignores them.
    pub fn from_args(args: &Args) -> Result<Self, ArgsError> {
        Ok(Self {
            titles: args.strings("person_titles")?,
            similar_titles: args.bool("include_similar_titles")?.unwrap_or(true),
            seniorities: lower(args.strings("person_seniorities")?),
            locations: args.strings("person_locations")?,
            email_statuses: lower(args.strings("contact_email_status")?),
            keywords: args
                .str("q_keywords")?
                .map(|k| {
                    k.to_lowercase()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            org: OrgCriteria::from_args(args)?,
        })
    }
}

/// The filters of an organization search.
#[derive(Debug, Default)]
pub struct OrganizationQuery {
    org: OrgCriteria,
}

impl OrganizationQuery {
    pub fn from_args(args: &Args) -> Result<Self, ArgsError> {
        Ok(Self {
            org: OrgCriteria::from_args(args)?,
        })
    }

    pub fn breadcrumbs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        self.org.breadcrumbs(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db() -> Database {
        Database::generate(42, 2_000)
    }

    fn args(value: Value) -> Args {
        match value {
            Value::Object(map) => Args::from_map(map),
            _ => Args::default(),
        }
    }

    fn page(per_page: usize) -> Paging {
        Paging { page: 1, per_page }
    }

    #[test]
    fn unfiltered_search_pages_through_everyone() {
        let db = db();
        let q = PeopleQuery::from_args(&Args::default()).expect("no filters");
        let last = db.search_people(
            &q,
            Paging {
                page: 20,
                per_page: 100,
            },
        );
        assert_eq!(last.total, 2_000);
        assert_eq!(last.items, (1_900..2_000).collect::<Vec<_>>());
        let past = db.search_people(
            &q,
            Paging {
                page: 21,
                per_page: 100,
            },
        );
        assert!(past.items.is_empty());
    }

    #[test]
    fn title_and_seniority_filters_really_filter() {
        let db = db();
        let q = PeopleQuery::from_args(&args(
            json!({"person_titles": ["vice president sales"], "person_seniorities": ["vp"]}),
        ))
        .expect("filters");
        let found = db.search_people(&q, page(100));
        assert!(
            found.total > 0 && found.total < 200,
            "total {}",
            found.total
        );
        for i in found.items {
            let title = &db.titles[db.people[i].title].text;
            assert!(title.contains("Sales") && title.contains("V"), "{title}");
        }
    }

    #[test]
    fn domain_filter_returns_exactly_that_company() {
        let db = db();
        let org = db.people[0].organization;
        let domain = db.organizations[org].domain.clone();
        let q = PeopleQuery::from_args(&args(
            json!({"q_organization_domains_list": [format!("www.{domain}")]}),
        ))
        .expect("filters");
        let found = db.search_people(&q, page(100));
        assert_eq!(found.total, db.staff(org).len());
        assert!(
            found
                .items
                .iter()
                .all(|i| db.people[*i].organization == org)
        );
    }

    #[test]
    fn location_and_employee_filters_apply_to_organizations() {
        let db = db();
        let q = OrganizationQuery::from_args(&args(json!({
            "organization_locations": ["Texas, US"],
            "organization_num_employees_ranges": ["1,50"]
        })))
        .expect("filters");
        let found = db.search_organizations(&q, page(100));
        assert!(found.total > 0);
        for i in found.items {
            let org = &db.organizations[i];
            assert_eq!(db.location(org.location).1, "Texas");
            assert!(org.employees <= 50);
        }
    }
}
