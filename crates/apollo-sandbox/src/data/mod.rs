//! The synthetic prospect database: people at organizations, generated deterministically
//! from a seed (the same seed always yields the same people, ids and order). It is
//! immutable once built; indexes and pre-rendered search JSON are computed up front so
//! that searches do not allocate per person.

pub mod bitset;
pub mod render;
mod search;
mod words;

use std::collections::{HashMap, HashSet};

use bitset::Bitset;

pub use search::{OrganizationQuery, PeopleQuery};

use words::{
    C_SUITE, COUNTRY_ALIASES, EMPLOYEE_SIZES, FIRST_NAMES, FUNCTIONS, INDUSTRIES, LAST_NAMES,
    LOCATIONS, NAME_NOUNS, NAME_PREFIXES, NAME_SUFFIXES, PERSONAL_DOMAINS, SENIORITIES,
    TECHNOLOGIES, TLDS,
};

/// A small, stable generator (SplitMix64): the database must not change when a
/// dependency's random number generator does.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_A901_1A00u64.wrapping_mul(0x9E37_79B9))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A 24-hex-digit id, like Apollo's (MongoDB) ids.
    pub fn id(&mut self) -> String {
        format!("{:08x}{:016x}", self.next_u64() as u32, self.next_u64())
    }
}

/// A distinct job title, with what it implies.
#[derive(Debug)]
pub struct Title {
    pub text: String,
    pub seniority: usize,
    pub function: usize,
    /// Normalised words, for title matching.
    words: Vec<String>,
}

#[derive(Debug)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub industry: usize,
    pub employees: u32,
    pub annual_revenue: u64,
    pub total_funding: Option<u64>,
    pub founded_year: u16,
    pub technologies: Vec<usize>,
    pub location: usize,
    pub phone: Phone,
    pub linkedin_slug: String,
    pub street: String,
    name_lower: String,
    /// The organization as organization search lists it.
    search_json: Box<str>,
}

#[derive(Clone, Debug)]
pub struct Phone {
    pub raw: String,
    pub sanitized: String,
}

#[derive(Debug)]
pub struct Job {
    pub organization: usize,
    pub title: usize,
    pub start_year: u16,
    pub end_year: Option<u16>,
    pub id: String,
}

#[derive(Debug)]
pub struct Person {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub title: usize,
    pub location: usize,
    pub organization: usize,
    pub email: Option<String>,
    pub email_status: &'static str,
    pub personal_emails: Vec<String>,
    pub mobile: Option<Phone>,
    pub linkedin_url: String,
    pub photo_url: String,
    pub last_refreshed_at: String,
    pub jobs: Vec<Job>,
    /// Lowercased name, title and company, for `q_keywords`.
    haystack: String,
    /// The person as people search lists them (obfuscated, no contact data).
    search_json: Box<str>,
}

impl Person {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// Apollo's `email_status` values, with weights.
pub const EMAIL_STATUSES: &[(&str, u64)] = &[
    ("verified", 65),
    ("likely to engage", 10),
    ("unverified", 10),
    ("unavailable", 15),
];

/// The whole prospect database.
#[derive(Debug)]
pub struct Database {
    pub people: Vec<Person>,
    pub organizations: Vec<Organization>,
    pub titles: Vec<Title>,
    /// Per location index, the lowercase names that match it (city, state, country, aliases).
    location_names: Vec<Vec<String>>,
    by_person_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_linkedin: HashMap<String, usize>,
    by_hashed_email: HashMap<String, usize>,
    by_name: HashMap<String, Vec<usize>>,
    by_org_id: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
    by_org_name: HashMap<String, usize>,
    by_org_linkedin: HashMap<String, usize>,
    /// People of each organization, in database order.
    staff: Vec<Vec<u32>>,
    /// People by title, seniority, location and email status, for fast filtering.
    sets: Sets,
}

/// Per-value sets of people: the indexes people search intersects.
#[derive(Debug, Default)]
struct Sets {
    titles: Vec<Bitset>,
    seniorities: Vec<Bitset>,
    locations: Vec<Bitset>,
    email_statuses: Vec<Bitset>,
}

impl Database {
    /// Builds the database for `seed`: `people` people (at least 1,000) at
    /// max(1,000, people / 10) organizations.
    pub fn generate(seed: u64, people: usize) -> Self {
        let mut rng = Rng::new(seed);
        let titles = build_titles();
        let organizations = generate_organizations(&mut rng, 1_000.max(people / 10));
        let people_count = people.max(1_000);
        let mut db = Self {
            people: Vec::with_capacity(people_count),
            organizations,
            titles,
            location_names: LOCATIONS.iter().map(|l| location_names(*l)).collect(),
            by_person_id: HashMap::new(),
            by_email: HashMap::new(),
            by_linkedin: HashMap::new(),
            by_hashed_email: HashMap::new(),
            by_name: HashMap::new(),
            by_org_id: HashMap::new(),
            by_domain: HashMap::new(),
            by_org_name: HashMap::new(),
            by_org_linkedin: HashMap::new(),
            staff: Vec::new(),
            sets: Sets::default(),
        };
        for org in &mut db.organizations {
            org.search_json = render::organization_summary(org)
                .to_string()
                .into_boxed_str();
        }
        let seniority_table = weighted(SENIORITIES.iter().map(|(_, w)| *w));
        let mut titles_by_seniority: Vec<Vec<usize>> = vec![Vec::new(); SENIORITIES.len()];
        for (i, title) in db.titles.iter().enumerate() {
            titles_by_seniority[title.seniority].push(i);
        }
        let mut emails = HashSet::new();
        let mut linkedins = HashSet::new();
        for _ in 0..people_count {
            let person = generate_person(
                &mut rng,
                &db,
                &seniority_table,
                &titles_by_seniority,
                &mut emails,
                &mut linkedins,
            );
            db.people.push(person);
        }
        db.index();
        db
    }

    fn index(&mut self) {
        self.staff = vec![Vec::new(); self.organizations.len()];
        let n = self.people.len();
        self.sets = Sets {
            titles: self.titles.iter().map(|_| Bitset::new(n)).collect(),
            seniorities: SENIORITIES.iter().map(|_| Bitset::new(n)).collect(),
            locations: LOCATIONS.iter().map(|_| Bitset::new(n)).collect(),
            email_statuses: EMAIL_STATUSES.iter().map(|_| Bitset::new(n)).collect(),
        };
        for (i, org) in self.organizations.iter().enumerate() {
            self.by_org_id.insert(org.id.clone(), i);
            self.by_domain.insert(org.domain.clone(), i);
            self.by_org_name.entry(org.name_lower.clone()).or_insert(i);
            self.by_org_linkedin.insert(org.linkedin_slug.clone(), i);
        }
        for i in 0..self.people.len() {
            let rendered = render::person_summary(self, i).to_string().into_boxed_str();
            let person = &mut self.people[i];
            person.search_json = rendered;
            let org = &self.organizations[person.organization];
            person.haystack = format!(
                "{} {} {} {}",
                person.first_name, person.last_name, self.titles[person.title].text, org.name
            )
            .to_lowercase();
            self.staff[person.organization].push(i as u32);
            self.sets.titles[person.title].insert(i);
            self.sets.seniorities[self.titles[person.title].seniority].insert(i);
            self.sets.locations[person.location].insert(i);
            if person.email.is_some()
                && let Some(s) = EMAIL_STATUSES
                    .iter()
                    .position(|(s, _)| *s == person.email_status)
            {
                self.sets.email_statuses[s].insert(i);
            }
            self.by_person_id.insert(person.id.clone(), i);
            if let Some(email) = &person.email {
                self.by_email.insert(email.clone(), i);
                self.by_hashed_email.insert(sha256_hex(email), i);
            }
            for email in &person.personal_emails {
                self.by_email.insert(email.clone(), i);
                self.by_hashed_email.insert(sha256_hex(email), i);
            }
            self.by_linkedin
                .insert(linkedin_key(&person.linkedin_url), i);
            self.by_name
                .entry(format!("{} {}", person.first_name, person.last_name).to_lowercase())
                .or_default()
                .push(i);
        }
    }

    pub fn person_by_id(&self, id: &str) -> Option<usize> {
        self.by_person_id.get(id).copied()
    }

    pub fn person_by_email(&self, email: &str) -> Option<usize> {
        self.by_email.get(&email.trim().to_lowercase()).copied()
    }

    /// `hashed_email` as SHA-256 hex (Apollo also takes MD5; the sandbox does not).
    pub fn person_by_hashed_email(&self, hash: &str) -> Option<usize> {
        self.by_hashed_email
            .get(&hash.trim().to_lowercase())
            .copied()
    }

    pub fn person_by_linkedin(&self, url: &str) -> Option<usize> {
        self.by_linkedin.get(&linkedin_key(url)).copied()
    }

    /// People with this full name (case-insensitive).
    pub fn people_named(&self, name: &str) -> &[usize] {
        let key = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        self.by_name.get(&key).map_or(&[], Vec::as_slice)
    }

    /// By domain, accepting `www.`, a scheme or a path around it.
    pub fn organization_by_domain(&self, domain: &str) -> Option<usize> {
        self.by_domain.get(&normalize_domain(domain)).copied()
    }

    pub fn organization_by_name(&self, name: &str) -> Option<usize> {
        self.by_org_name.get(&name.trim().to_lowercase()).copied()
    }

    pub fn organization_by_linkedin(&self, url: &str) -> Option<usize> {
        self.by_org_linkedin.get(&linkedin_key(url)).copied()
    }

    #[cfg(test)]
    pub fn staff(&self, organization: usize) -> &[u32] {
        &self.staff[organization]
    }

    pub fn location(&self, index: usize) -> (&'static str, &'static str, &'static str) {
        let (city, state, country, _) = LOCATIONS[index];
        (city, state, country)
    }

    pub fn seniority(&self, title: usize) -> &'static str {
        SENIORITIES[self.titles[title].seniority].0
    }

    pub fn departments(&self, title: usize) -> Vec<&'static str> {
        let t = &self.titles[title];
        let mut out = Vec::with_capacity(2);
        if SENIORITIES[t.seniority].0 == "c_suite" {
            out.push("c_suite");
        }
        out.push(FUNCTIONS[t.function].1);
        out
    }

    pub fn industry(&self, org: &Organization) -> (&'static str, &'static [&'static str]) {
        INDUSTRIES[org.industry]
    }

    pub fn technology(&self, index: usize) -> (&'static str, &'static str) {
        TECHNOLOGIES[index]
    }
}

/// `www.Acme.com/about` -> `acme.com`.
pub fn normalize_domain(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let no_scheme = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = no_scheme.split(['/', '?', '#']).next().unwrap_or("");
    host.strip_prefix("www.").unwrap_or(host).to_owned()
}

/// The part of a LinkedIn URL that identifies it: `linkedin.com/in/jane-doe`.
fn linkedin_key(url: &str) -> String {
    let d = normalize_domain(url);
    let lower = url.trim().to_lowercase();
    let path = lower.split_once("linkedin.com").map_or("", |(_, p)| p);
    format!("{d}{}", path.trim_end_matches('/'))
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.trim().to_lowercase().as_bytes()))
}

fn weighted(weights: impl Iterator<Item = u32>) -> Vec<usize> {
    let mut table = Vec::new();
    for (i, w) in weights.enumerate() {
        table.extend(std::iter::repeat_n(i, w as usize));
    }
    table
}

fn pick_weighted<T: Copy>(rng: &mut Rng, items: &[(T, u64)]) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.next_u64() % total.max(1);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[0].0
}

fn location_names((city, state, country, _): (&str, &str, &str, &str)) -> Vec<String> {
    let mut names = vec![
        city.to_lowercase(),
        state.to_lowercase(),
        country.to_lowercase(),
    ];
    for (alias, full) in COUNTRY_ALIASES {
        if *full == country.to_lowercase() {
            names.push((*alias).to_owned());
        }
    }
    names
}

/// Lowercase words with Apollo-ish synonyms folded (`vice president` -> `vp`).
pub fn title_words(text: &str) -> Vec<String> {
    let lower = text
        .to_lowercase()
        .replace("vice president", "vp")
        .replace("chief executive officer", "ceo")
        .replace("chief technology officer", "cto")
        .replace("senior vp", "svp");
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !matches!(*w, "of" | "and" | "the"))
        .map(str::to_owned)
        .collect()
}

fn build_titles() -> Vec<Title> {
    let mut titles = Vec::new();
    let mut add = |text: String, seniority: &str, function: usize| {
        let seniority = SENIORITIES
            .iter()
            .position(|(s, _)| *s == seniority)
            .unwrap_or(0);
        let words = title_words(&text);
        titles.push(Title {
            text,
            seniority,
            function,
            words,
        });
    };
    add("Owner".into(), "owner", 5);
    for t in ["Founder", "Co-Founder", "Founder & CEO"] {
        add(t.into(), "founder", 5);
    }
    for (t, f) in C_SUITE {
        add((*t).into(), "c_suite", *f);
    }
    add("Partner".into(), "partner", 5);
    add("Managing Partner".into(), "partner", 5);
    for (f, (function, _, role)) in FUNCTIONS.iter().enumerate() {
        add(format!("VP of {function}"), "vp", f);
        add(format!("VP {function}"), "vp", f);
        add(format!("Senior Vice President of {function}"), "vp", f);
        add(format!("Head of {function}"), "head", f);
        add(format!("Director of {function}"), "director", f);
        add(format!("{function} Director"), "director", f);
        add(format!("{function} Manager"), "manager", f);
        add(format!("Senior {role}"), "senior", f);
        add((*role).into(), "entry", f);
        add(format!("{function} Intern"), "intern", f);
    }
    add("Sales Development Representative".into(), "entry", 0);
    add("Business Development Representative".into(), "entry", 0);
    titles
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn phone(rng: &mut Rng, calling_code: &str) -> Phone {
    let area = rng.between(201, 989);
    let exchange = rng.between(200, 999);
    let line = rng.between(0, 9_999);
    let digits = format!("{area}{exchange}{line:04}");
    let raw = if calling_code == "1" {
        format!("+1 {area}-{exchange}-{line:04}")
    } else {
        format!("+{calling_code} {area} {exchange} {line:04}")
    };
    Phone {
        raw,
        sanitized: format!("+{calling_code}{digits}"),
    }
}

fn generate_organizations(rng: &mut Rng, count: usize) -> Vec<Organization> {
    let size_table = weighted(EMPLOYEE_SIZES.iter().map(|(_, _, w)| *w));
    let mut names = HashSet::new();
    let mut domains = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let base = format!("{}{}", rng.pick(NAME_PREFIXES), rng.pick(NAME_NOUNS));
        let mut name = format!("{base}{}", rng.pick(NAME_SUFFIXES));
        if !names.insert(name.to_lowercase()) {
            name = format!("{name} {}", out.len());
            names.insert(name.to_lowercase());
        }
        let mut domain = format!("{}.{}", base.to_lowercase(), rng.pick(TLDS));
        if !domains.insert(domain.clone()) {
            domain = format!("{}{}.com", base.to_lowercase(), out.len());
            domains.insert(domain.clone());
        }
        let (lo, hi, _) = EMPLOYEE_SIZES[*rng.pick(&size_table)];
        let employees = rng.between(u64::from(lo), u64::from(hi)) as u32;
        let revenue_per_head = rng.between(60_000, 350_000);
        let mut technologies: Vec<usize> = (0..rng.between(3, 9))
            .map(|_| rng.below(TECHNOLOGIES.len()))
            .collect();
        technologies.sort_unstable();
        technologies.dedup();
        let location = rng.below(LOCATIONS.len());
        let slug = base.to_lowercase();
        out.push(Organization {
            id: rng.id(),
            industry: rng.below(INDUSTRIES.len()),
            employees,
            annual_revenue: u64::from(employees) * revenue_per_head / 1_000 * 1_000,
            total_funding: rng.chance(45).then(|| rng.between(5, 4_000) * 250_000),
            founded_year: rng.between(1950, 2023) as u16,
            technologies,
            phone: phone(rng, LOCATIONS[location].3),
            location,
            street: format!(
                "{} {} St",
                rng.between(1, 2_000),
                capitalize(rng.pick::<&str>(NAME_NOUNS))
            ),
            linkedin_slug: format!("linkedin.com/company/{slug}-{}", out.len()),
            name_lower: name.to_lowercase(),
            name,
            domain,
            search_json: Box::from(""),
        });
    }
    out
}

fn ascii_slug(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

fn generate_person(
    rng: &mut Rng,
    db: &Database,
    seniority_table: &[usize],
    titles_by_seniority: &[Vec<usize>],
    emails: &mut HashSet<String>,
    linkedins: &mut HashSet<String>,
) -> Person {
    let first_name = (*rng.pick(FIRST_NAMES)).to_owned();
    let last_name = (*rng.pick(LAST_NAMES)).to_owned();
    let organization = rng.below(db.organizations.len());
    let org = &db.organizations[organization];
    let seniority = *rng.pick(seniority_table);
    let title = *rng.pick(&titles_by_seniority[seniority]);
    let location = if rng.chance(70) {
        org.location
    } else {
        rng.below(LOCATIONS.len())
    };
    let (first, last) = (ascii_slug(&first_name), ascii_slug(&last_name));
    let email_status = pick_weighted(rng, EMAIL_STATUSES);
    let email = (email_status != "unavailable").then(|| {
        let mut candidate = format!("{first}.{last}@{}", org.domain);
        let mut n = 2;
        while !emails.insert(candidate.clone()) {
            candidate = format!("{first}.{last}{n}@{}", org.domain);
            n += 1;
        }
        candidate
    });
    let mut personal_emails = Vec::new();
    if rng.chance(60) {
        let count = if rng.chance(20) { 2 } else { 1 };
        for _ in 0..count {
            let mut candidate = format!(
                "{first}{last}{}@{}",
                rng.between(1, 99),
                rng.pick(PERSONAL_DOMAINS)
            );
            while !emails.insert(candidate.clone()) {
                candidate = format!(
                    "{first}.{last}{}@{}",
                    rng.between(100, 9_999),
                    rng.pick(PERSONAL_DOMAINS)
                );
            }
            personal_emails.push(candidate);
        }
    }
    let mobile = rng.chance(55).then(|| phone(rng, LOCATIONS[location].3));
    let mut linkedin = format!("http://www.linkedin.com/in/{first}-{last}");
    while !linkedins.insert(linkedin.clone()) {
        linkedin = format!(
            "http://www.linkedin.com/in/{first}-{last}-{:x}",
            rng.next_u64() as u16
        );
    }
    let start_year = rng.between(2012, 2024) as u16;
    let mut jobs = vec![Job {
        organization,
        title,
        start_year,
        end_year: None,
        id: rng.id(),
    }];
    let mut year = start_year;
    for _ in 0..rng.below(3) {
        let began = year.saturating_sub(rng.between(1, 6) as u16);
        jobs.push(Job {
            organization: rng.below(db.organizations.len()),
            title: *rng.pick(
                &titles_by_seniority[seniority
                    .saturating_sub(1)
                    .max(7)
                    .min(SENIORITIES.len() - 1)],
            ),
            start_year: began,
            end_year: Some(year),
            id: rng.id(),
        });
        year = began;
    }
    let refreshed_day = rng.between(1, 28);
    let refreshed_month = rng.between(1, 9);
    Person {
        id: rng.id(),
        photo_url: format!(
            "https://static.sandbox.apollo.invalid/photos/{}.jpg",
            rng.id()
        ),
        first_name,
        last_name,
        title,
        location,
        organization,
        email,
        email_status,
        personal_emails,
        mobile,
        linkedin_url: linkedin,
        last_refreshed_at: format!("2025-{refreshed_month:02}-{refreshed_day:02}T08:00:00.000Z"),
        jobs,
        haystack: String::new(),
        search_json: Box::from(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_builds_the_same_database() {
        let a = Database::generate(7, 1_000);
        let b = Database::generate(7, 1_000);
        let c = Database::generate(8, 1_000);
        assert_eq!(a.people[10].id, b.people[10].id);
        assert_eq!(a.people[999].email, b.people[999].email);
        assert_ne!(a.people[10].id, c.people[10].id);
        assert_eq!(a.organizations.len(), 1_000);
    }

    #[test]
    fn lookups_find_generated_people() {
        let db = Database::generate(1, 1_000);
        let (i, person) = db
            .people
            .iter()
            .enumerate()
            .find(|(_, p)| p.email.is_some())
            .expect("someone has an email");
        let email = person.email.clone().expect("checked");
        assert_eq!(db.person_by_email(&email.to_uppercase()), Some(i));
        assert_eq!(db.person_by_hashed_email(&sha256_hex(&email)), Some(i));
        assert_eq!(
            db.person_by_linkedin(&person.linkedin_url.replace("http://www.", "https://")),
            Some(i)
        );
        assert!(db.people_named(&person.name()).contains(&i));
        let org = &db.organizations[person.organization];
        assert_eq!(
            db.organization_by_domain(&format!("https://www.{}/about", org.domain)),
            Some(person.organization)
        );
    }

    #[test]
    fn normalizes_domains() {
        assert_eq!(normalize_domain(" HTTPS://www.Acme.com/x?y"), "acme.com");
    }
}
