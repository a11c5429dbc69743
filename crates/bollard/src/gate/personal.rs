//! The personal fields of each kind of record Apollo answers with, and their removal for an
//! agent without the `reveal` grant.
//!
//! Apollo returns data the *team* already revealed or stored even when this call did not ask
//! for it: a contact another agent created with a mobile number, a person revealed last
//! week. So redaction is driven by a declaration per kind of record, not by the call's flags.
//!
//! Invariant (fail closed): a record is a person-like record unless its place in the answer
//! says it is a company. Only an object found under a key of [`COMPANY_KEYS`] keeps its phone
//! fields (a company's switchboard is not personal data); every other object, the answer
//! itself included, loses [`ALWAYS_PERSONAL`] and [`PERSON_ONLY`], at any depth. A new shape from
//! Apollo is therefore redacted as a person until someone declares otherwise.

use serde_json::{Map, Value};

/// What kind of record an object of an answer is, as its place in the answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// People, contacts, bulk matches, sequences' contacts, webhook deliveries, and any
    /// object whose kind is not declared.
    Person,
    /// Organizations and accounts: their `phone`, `sanitized_phone` and `primary_phone` are
    /// the company's switchboard.
    Company,
    /// The people of a conversation or meeting (under [`PARTICIPANT_KEYS`], at any depth):
    /// their address is all the record says about them, so `email` is personal too.
    Participant,
}

/// Fields removed from every record, a company's included: personal emails and a person's
/// numbers, whatever Apollo calls them. A company never legitimately carries these, so if
/// one does, they go too.
pub const ALWAYS_PERSONAL: &[&str] = &[
    "personal_emails",
    "contact_emails",
    // Waterfall enrichment's emails, delivered later to the webhook (through the relay).
    "waterfall_emails",
    "phone_numbers",
    "mobile_phone",
    "home_phone",
    "direct_phone",
    "other_phone",
    // An outreach email's recipients, and the numbers of a logged call (either end may be
    // the person: an inbound call's `from_number` is theirs).
    "to_email",
    "cc_emails",
    "bcc_emails",
    "to_number",
    "from_number",
    "phone_number",
];

/// Fields personal on a participant only: a contact's work `email` is the team's own data
/// (an agent reads it in contacts), but a meeting's participant is not always a contact.
pub const PARTICIPANT_ONLY: &[&str] = &["email", "emails"];

/// Keys under which Apollo places the people of a conversation or meeting.
pub const PARTICIPANT_KEYS: &[&str] = &["participants", "attendees"];

/// Fields that are personal on a person-like record only: on a company they are its
/// switchboard.
pub const PERSON_ONLY: &[&str] = &[
    "corporate_phone",
    "sanitized_phone",
    "phone",
    "primary_phone",
];

/// Keys under which Apollo places company records (alone or in a list).
pub const COMPANY_KEYS: &[&str] = &["organization", "organizations", "account", "accounts"];

/// Which (first letter, length) pairs any personal field has, from the lists above: a key
/// with another pair is no personal field of any record.
struct Prefilter([u32; 32]);

impl Prefilter {
    fn new() -> Self {
        let mut by_letter = [0u32; 32];
        for name in ALWAYS_PERSONAL
            .iter()
            .chain(PERSON_ONLY)
            .chain(PARTICIPANT_ONLY)
        {
            if let (Some(slot), Some(bit)) = (
                Self::slot(name).and_then(|i| by_letter.get_mut(i)),
                Self::bit(name),
            ) {
                *slot |= bit;
            }
        }
        Self(by_letter)
    }

    /// A name's slot, by its first byte's low five bits, so `M` and `m` share one.
    fn slot(name: &str) -> Option<usize> {
        name.as_bytes().first().map(|c| usize::from(c & 0x1F))
    }

    fn bit(name: &str) -> Option<u32> {
        1u32.checked_shl(u32::try_from(name.len()).ok()?)
    }

    fn may_hold(&self, key: &str) -> bool {
        let slot = Self::slot(key).and_then(|i| self.0.get(i));
        match (slot, Self::bit(key)) {
            (Some(lengths), Some(bit)) => lengths & bit != 0,
            // Longer than 31 bytes: no listed name is, but compare rather than assume.
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

static MAYBE_PERSONAL: std::sync::LazyLock<Prefilter> = std::sync::LazyLock::new(Prefilter::new);

impl RecordKind {
    /// Whether `field` of this kind of record is one an agent without `reveal` must not see.
    /// Compared ASCII-case-insensitively: a near-miss spelling ("Mobile_Phone") is not one of
    /// Apollo's fields, but it is removed too, to be safe.
    pub fn is_personal(self, field: &str) -> bool {
        // Every key of every answer passes here (issue 16): most are told apart by their
        // first letter and length alone, and the rest compared in place, not lower-cased into
        // a new string.
        if !MAYBE_PERSONAL.may_hold(field) {
            return false;
        }
        let listed = |list: &[&str]| list.iter().any(|f| f.eq_ignore_ascii_case(field));
        listed(ALWAYS_PERSONAL)
            || match self {
                RecordKind::Person => listed(PERSON_ONLY),
                RecordKind::Company => false,
                RecordKind::Participant => listed(PERSON_ONLY) || listed(PARTICIPANT_ONLY),
            }
    }

    /// The kind of a record found under `key` inside a record of this kind. Everything
    /// under a participant stays a participant.
    pub fn child(self, key: &str) -> RecordKind {
        if self == RecordKind::Participant || PARTICIPANT_KEYS.contains(&key) {
            RecordKind::Participant
        } else if COMPANY_KEYS.contains(&key) {
            RecordKind::Company
        } else {
            RecordKind::Person
        }
    }
}

/// Removes every personal field from an answer, the answer itself read as a person-like
/// record. True if anything was removed.
pub fn redact(v: &mut Value) -> bool {
    redact_as(v, RecordKind::Person)
}

fn redact_as(v: &mut Value, kind: RecordKind) -> bool {
    match v {
        Value::Object(m) => redact_record(m, kind),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, x| redact_as(x, kind) | changed),
        _ => false,
    }
}

fn redact_record(m: &mut Map<String, Value>, kind: RecordKind) -> bool {
    let before = m.len();
    m.retain(|k, _| !kind.is_personal(k));
    let mut changed = m.len() != before;
    for (key, child) in m.iter_mut() {
        changed |= redact_as(child, kind.child(key));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The prefilter rules out no spelling of a listed field, whatever its letters' case.
    #[test]
    fn every_listed_field_in_any_case_is_personal_where_it_is_listed() {
        for name in ALWAYS_PERSONAL
            .iter()
            .chain(PERSON_ONLY)
            .chain(PARTICIPANT_ONLY)
        {
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for spelling in [name.to_string(), name.to_ascii_uppercase(), mixed] {
                assert!(RecordKind::Participant.is_personal(&spelling), "{spelling}");
                assert_eq!(
                    RecordKind::Person.is_personal(&spelling),
                    !PARTICIPANT_ONLY.contains(name),
                    "{spelling}"
                );
            }
        }
        for other in [
            "",
            "id",
            "has_email",
            "email_status",
            "phone_numbers_count",
            "ṗhone",
        ] {
            assert!(!RecordKind::Participant.is_personal(other), "{other}");
        }
    }

    #[test]
    fn removes_every_phone_field_of_a_contact_at_any_depth() {
        let mut v = json!({"contacts": [{"id": "c1", "email": "a@acme.com",
            "mobile_phone": "1", "home_phone": "2", "direct_phone": "3", "other_phone": "4",
            "corporate_phone": "5", "sanitized_phone": "+16", "phone_numbers": [{"raw_number": "7"}],
            "contact_emails": [{"email": "me@gmail.com"}], "personal_emails": ["me@gmail.com"],
            "Mobile_Phone": "8"}]});
        assert!(redact(&mut v));
        assert_eq!(
            v,
            json!({"contacts": [{"id": "c1", "email": "a@acme.com"}]})
        );
    }

    #[test]
    fn keeps_a_companys_switchboard_but_not_a_persons_number_in_it() {
        let mut v = json!({"person": {"id": "p", "sanitized_phone": "+1",
            "organization": {"phone": "+1 555", "sanitized_phone": "+1555",
                "primary_phone": {"number": "+1 555"}, "mobile_phone": "+1 777"}}});
        assert!(redact(&mut v));
        assert_eq!(
            v,
            json!({"person": {"id": "p", "organization": {"phone": "+1 555",
                "sanitized_phone": "+1555", "primary_phone": {"number": "+1 555"}}}})
        );
    }

    #[test]
    fn a_person_inside_a_company_is_a_person_again() {
        let mut v = json!({"account": {"phone": "+1 555", "contacts": [{"phone": "+1 777"}]}});
        assert!(redact(&mut v));
        assert_eq!(v, json!({"account": {"phone": "+1 555", "contacts": [{}]}}));
    }

    #[test]
    fn a_participants_address_and_a_recipients_address_are_personal() {
        let mut v = json!({"participants": {"internal": [{"name": "Avery", "email": "a@team.example"}],
            "external": {"contacts": [{"name": "Ada", "email": "ada@acme.com", "phone_number": "+1"}]}},
            "emailer_messages": [{"to_email": "ada@acme.com", "cc_emails": ["b@acme.com"],
                "from_email": "a@team.example", "contact": {"email": "ada@acme.com"}}]});
        assert!(redact(&mut v));
        assert_eq!(
            v,
            json!({"participants": {"internal": [{"name": "Avery"}],
                "external": {"contacts": [{"name": "Ada"}]}},
                "emailer_messages": [{"from_email": "a@team.example",
                    "contact": {"email": "ada@acme.com"}}]})
        );
    }

    #[test]
    fn an_undeclared_shape_is_read_as_a_person() {
        let mut v = json!({"matches": [null, {"sanitized_phone": "+1"}], "sanitized_phone": "+2"});
        assert!(redact(&mut v));
        assert_eq!(v, json!({"matches": [null, {}]}));
        let mut clean = json!({"organizations": [{"phone": "+1"}]});
        assert!(!redact(&mut clean));
    }
}
