//! The credit ledger: what the team has spent, by kind. Charged by the enrichment and
//! organization routes at the prices of [`crate::Prices`].

use std::sync::{Mutex, PoisonError};

/// A kind of credit spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditKind {
    PersonMatch,
    MobilePhone,
    PersonalEmails,
    Waterfall,
    OrganizationSearch,
    OrganizationEnrich,
    /// A conversation viewed that has AI insights.
    ConversationInsights,
}

/// Credits consumed so far, by kind. A snapshot: it does not change after it is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct CreditLedger {
    pub person_match: f64,
    pub mobile_phone: f64,
    pub personal_emails: f64,
    pub waterfall: f64,
    pub organization_search: f64,
    pub organization_enrich: f64,
    pub conversation_insights: f64,
}

impl CreditLedger {
    pub fn total(&self) -> f64 {
        self.person_match
            + self.mobile_phone
            + self.personal_emails
            + self.waterfall
            + self.organization_search
            + self.organization_enrich
            + self.conversation_insights
    }

    /// Apollo's "lead credits": everything that is not a direct dial or a waterfall.
    pub fn lead_credits(&self) -> f64 {
        self.person_match
            + self.personal_emails
            + self.organization_search
            + self.organization_enrich
    }

    fn slot(&mut self, kind: CreditKind) -> &mut f64 {
        match kind {
            CreditKind::PersonMatch => &mut self.person_match,
            CreditKind::MobilePhone => &mut self.mobile_phone,
            CreditKind::PersonalEmails => &mut self.personal_emails,
            CreditKind::Waterfall => &mut self.waterfall,
            CreditKind::OrganizationSearch => &mut self.organization_search,
            CreditKind::OrganizationEnrich => &mut self.organization_enrich,
            CreditKind::ConversationInsights => &mut self.conversation_insights,
        }
    }
}

/// The shared, running ledger.
#[derive(Debug, Default)]
pub struct Credits {
    ledger: Mutex<CreditLedger>,
}

impl Credits {
    pub fn charge(&self, kind: CreditKind, amount: f64) {
        if amount > 0.0 {
            *self.lock().slot(kind) += amount;
        }
    }

    pub fn snapshot(&self) -> CreditLedger {
        *self.lock()
    }

    pub fn reset(&self) {
        *self.lock() = CreditLedger::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CreditLedger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
