//! Who may read credit data, as ledger records: enterprise keys, consents
//! signed by enterprises, their revocations, and the audit entries that
//! record every read of enterprise data.
//!
//! The PBOC's credit-reporting rules ask that a querying institution be
//! identified, that reading an enterprise's loan data need that
//! enterprise's authorization, and that every query be recorded. Putting
//! consents and the query trail on chain makes every city judge access by
//! the same committed facts, and lets an enterprise or a regulator see who
//! looked, from any node.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey, Signature};
use crate::codec;
use crate::crypto::{self, Domain, Keypair, SignatureError};
use crate::time::Date;
use crate::validate::{self, ValidationError};
use crate::MAX_ID_CHARS;

/// Longest span of a consent, `until - not_before`, in days (a year,
/// leap day included).
pub const MAX_CONSENT_DAYS: i64 = 366;
/// Most audit entries in one [`AuditBatch`]; keeps the transaction under
/// [`crate::MAX_TX_BYTES`] whatever the entries hold.
pub const MAX_AUDIT_ENTRIES: usize = 16;
/// Longest refusal code in an audit entry.
pub const MAX_CODE_CHARS: usize = 40;

named_enum!(
    /// What a consent lets its grantee read.
    Scope "consent scope" {
        /// Credit records.
        Credit => "credit",
        /// IP registrations and pledges.
        Ip => "ip",
        /// Supply-chain receivables.
        Receivables => "receivables",
        /// Everything above.
        All => "all",
    }
);

impl Scope {
    /// True if a consent of this scope covers reading `need`.
    pub fn covers(self, need: Scope) -> bool {
        self == Scope::All || self == need
    }
}

named_enum!(
    /// Why a member reads enterprise data; signed with every such read and
    /// recorded in the audit trail.
    Purpose "purpose" {
        /// Deciding on a loan application.
        LoanApproval => "loan_approval",
        /// Monitoring an existing loan.
        PostLoanManagement => "post_loan_management",
        /// Reviewing a guarantee.
        GuaranteeReview => "guarantee_review",
        /// A regulator's supervision.
        Supervision => "supervision",
        /// The enterprise reading its own data.
        SelfInquiry => "self_inquiry",
    }
);

/// Binds (or replaces) an enterprise's key; sent by an
/// `enterprise_registrar` (a city's administration for market regulation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseKey {
    /// The enterprise's USCC.
    pub uscc: String,
    /// Its ed25519 key, with which it signs consents and reads its own data.
    pub public_key: PublicKey,
}

/// An enterprise's authorization for one member to read its data, made
/// offline by the enterprise and submitted by anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The network; a consent for a test network is worthless elsewhere.
    pub chain_id: String,
    /// The enterprise's USCC.
    pub enterprise: String,
    /// The member allowed to read.
    pub grantee: PublicKey,
    /// What it may read.
    pub scope: Scope,
    /// For what purpose.
    pub purpose: Purpose,
    /// First day it is in force.
    pub not_before: Date,
    /// Last day it is in force (at most [`MAX_CONSENT_DAYS`] later).
    pub until: Date,
    /// Unique id, chosen by the enterprise's software.
    pub consent_id: String,
}

impl Consent {
    /// Signs the consent with the enterprise's key.
    pub fn sign(self, key: &Keypair) -> SignedConsent {
        let signature = key.sign(Domain::Consent, &self.chain_id, &codec::encode(&self));
        SignedConsent {
            consent: self,
            signature,
        }
    }

    /// Checks every field (no state needed).
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::uscc_lenient("enterprise", &self.enterprise)?;
        crypto::check_public_key(&self.grantee)
            .map_err(|e| ValidationError::new("grantee", e.to_string()))?;
        validate::identifier("consent_id", &self.consent_id, MAX_ID_CHARS)?;
        for (field, d) in [("not_before", &self.not_before), ("until", &self.until)] {
            if !d.is_valid() {
                return Err(ValidationError::new(
                    field,
                    format!("{d} is not a calendar date"),
                ));
            }
        }
        let days = self.until.days_since_epoch() - self.not_before.days_since_epoch();
        if days < 0 {
            return Err(ValidationError::new(
                "until",
                format!("{} is before not_before {}", self.until, self.not_before),
            ));
        }
        if days > MAX_CONSENT_DAYS {
            return Err(ValidationError::new(
                "until",
                format!(
                    "a consent lasts at most {MAX_CONSENT_DAYS} days; {} is {days} days after {}",
                    self.until, self.not_before
                ),
            ));
        }
        Ok(())
    }

    /// True if the consent is in force on `day` (revocation aside).
    pub fn in_force(&self, day: Date) -> bool {
        self.not_before <= day && day <= self.until
    }
}

/// A consent with the enterprise's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedConsent {
    /// The consent.
    pub consent: Consent,
    /// Signature over `deltachain/consent/v1`, the chain id and the consent
    /// bytes, by the enterprise key bound on chain.
    pub signature: Signature,
}

impl SignedConsent {
    /// Verifies the enterprise's signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        crypto::verify(
            key,
            Domain::Consent,
            &self.consent.chain_id,
            &codec::encode(&self.consent),
            &self.signature,
        )
    }
}

/// An enterprise's revocation of one of its consents, signed by its key.
/// Anyone may submit it, the enterprise itself included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRevoke {
    /// The consent.
    pub consent_id: String,
    /// Signature over `deltachain/consent-revoke/v1`, the chain id and the
    /// encoded consent id, by the enterprise key bound on chain.
    pub signature: Signature,
}

impl ConsentRevoke {
    /// The revocation of `consent_id`, signed with the enterprise's key.
    pub fn sign(chain_id: &str, consent_id: &str, key: &Keypair) -> ConsentRevoke {
        ConsentRevoke {
            consent_id: consent_id.to_string(),
            signature: key.sign(
                Domain::ConsentRevoke,
                chain_id,
                &codec::encode(&consent_id.to_string()),
            ),
        }
    }

    /// Verifies the signature with `key` for `chain_id`.
    pub fn verify(&self, chain_id: &str, key: &PublicKey) -> Result<(), SignatureError> {
        crypto::verify(
            key,
            Domain::ConsentRevoke,
            chain_id,
            &codec::encode(&self.consent_id),
            &self.signature,
        )
    }
}

named_enum!(
    /// Which read an audit entry records.
    AuditRoute "audited route" {
        /// `GET /v1/enterprises/{uscc}`: the enterprise's records.
        EnterpriseRecords => "enterprise_records",
        /// `GET /v1/enterprises/{uscc}?own=true`: the records the requester
        /// reported itself.
        OwnRecords => "own_records",
        /// `GET /v1/enterprises/{uscc}/queries`: the enterprise's query log.
        QueryLog => "query_log",
        /// `GET /v1/txs/{hash}` or its proof by a regulator: one
        /// transaction carrying the enterprise's data.
        Transaction => "transaction",
        /// `GET /v1/receivables/{id}` or an enterprise's receivables.
        Receivables => "receivables",
        /// `GET /v1/enterprises/{uscc}/report`: the whole picture.
        Report => "report",
    }
);

/// On what ground a read was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessBasis {
    /// The requester is a regulator.
    Regulator,
    /// The requester is the enterprise itself.
    Enterprise,
    /// An active consent.
    Consent {
        /// Its id.
        consent_id: String,
    },
    /// The requester reads only the records it reported itself.
    OwnRecords,
    /// No ground: the read was refused.
    None,
}

/// Whether a read was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Answered.
    Granted,
    /// Refused, with the API error code.
    Refused {
        /// E.g. `consent_required`.
        code: String,
    },
}

/// One read of enterprise data, as the serving node recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the node answered, ms since the Unix epoch (the node's clock).
    pub time_ms: u64,
    /// The member or enterprise key that signed the request.
    pub requester: PublicKey,
    /// The enterprise read.
    pub enterprise: String,
    /// Which read.
    pub route: AuditRoute,
    /// The signed purpose, if one was given.
    pub purpose: Option<Purpose>,
    /// On what ground.
    pub basis: AccessBasis,
    /// Granted or refused.
    pub outcome: AuditOutcome,
    /// sha256 of the response body, so the answer given can be proven later.
    pub response_hash: Hash,
}

impl AuditEntry {
    fn validate(&self) -> Result<(), ValidationError> {
        validate::uscc_lenient("enterprise", &self.enterprise)?;
        if let AccessBasis::Consent { consent_id } = &self.basis {
            validate::identifier("consent_id", consent_id, MAX_ID_CHARS)?;
        }
        if let AuditOutcome::Refused { code } = &self.outcome {
            validate::identifier("code", code, MAX_CODE_CHARS)?;
        }
        Ok(())
    }
}

/// A serving node's batch of audit entries, numbered from `first_seq` in
/// the node's own sequence, so that a batch sent twice (after a crash) is
/// recorded once and a gap is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBatch {
    /// Sequence number of the first entry.
    pub first_seq: u64,
    /// The entries, in the node's order.
    pub entries: Vec<AuditEntry>,
}

impl AuditBatch {
    /// Checks every entry (no state needed).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.entries.is_empty() || self.entries.len() > MAX_AUDIT_ENTRIES {
            return Err(ValidationError::new(
                "entries",
                format!(
                    "an audit batch holds 1 to {MAX_AUDIT_ENTRIES} entries, not {}",
                    self.entries.len()
                ),
            ));
        }
        self.entries.iter().try_for_each(AuditEntry::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Payload, Transaction, MAX_TX_BYTES};

    fn consent(days: u32) -> Consent {
        Consent {
            chain_id: "c".into(),
            enterprise: "91350100M000100Y43".into(),
            grantee: Keypair::from_secret([2; 32]).public(),
            scope: Scope::Credit,
            purpose: Purpose::LoanApproval,
            not_before: Date::new(2026, 1, 1).unwrap(),
            until: Date::from_unix_ms(
                (Date::new(2026, 1, 1).unwrap().days_since_epoch() as u64 + days as u64)
                    * 86_400_000,
            ),
            consent_id: "c-1".into(),
        }
    }

    #[test]
    fn consent_span_and_signature() {
        consent(366).validate().unwrap();
        assert!(consent(367).validate().is_err());
        let key = Keypair::from_secret([1; 32]);
        let signed = consent(30).sign(&key);
        signed.verify(&key.public()).unwrap();
        assert!(signed
            .verify(&Keypair::from_secret([3; 32]).public())
            .is_err());
        let mut tampered = signed.clone();
        tampered.consent.scope = Scope::All;
        assert!(tampered.verify(&key.public()).is_err());
        let r = ConsentRevoke::sign("c", "c-1", &key);
        r.verify("c", &key.public()).unwrap();
        assert!(r.verify("other", &key.public()).is_err());
    }

    #[test]
    fn a_full_audit_batch_fits_in_a_transaction() {
        let entry = AuditEntry {
            time_ms: u64::MAX,
            requester: Keypair::from_secret([2; 32]).public(),
            enterprise: "91350100M000100Y43".into(),
            route: AuditRoute::EnterpriseRecords,
            purpose: Some(Purpose::PostLoanManagement),
            basis: AccessBasis::Consent {
                consent_id: "x".repeat(MAX_ID_CHARS),
            },
            outcome: AuditOutcome::Refused {
                code: "y".repeat(MAX_CODE_CHARS),
            },
            response_hash: Hash([9; 32]),
        };
        let batch = AuditBatch {
            first_seq: u64::MAX,
            entries: vec![entry; MAX_AUDIT_ENTRIES],
        };
        batch.validate().unwrap();
        let tx = Transaction {
            chain_id: "x".repeat(64),
            sender: Keypair::from_secret([2; 32]).public(),
            nonce: u64::MAX,
            payload: Payload::AuditBatch(batch),
        }
        .sign(&Keypair::from_secret([2; 32]));
        assert!(tx.encode().len() <= MAX_TX_BYTES, "{}", tx.encode().len());
    }
}
