//! The rest of an enterprise's picture: supply-chain receivables, public
//! credit records (tax, social insurance, utilities, courts), objections to
//! records, and the regulator's exceptions for pilot-era codes.
//!
//! Receivables exist on chain to stop double financing: a receivable that a
//! core enterprise (the debtor) confirmed can be pledged or factored once,
//! split into parts that are financed separately, and paid off; every step
//! is checked against what is already financed. Public records are typed
//! per category so that a tax grade is always a grade and a court case
//! number always has the shape courts give it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey, Signature};
use crate::codec;
use crate::crypto::{self, Domain, Keypair, SignatureError};
use crate::time::Date;
use crate::validate::{self, ValidationError};
use crate::{MAX_ID_CHARS, MAX_NOTE_CHARS, MAX_TITLE_CHARS};

/// Most invoice numbers one receivable names.
pub const MAX_INVOICES: usize = 16;
/// Most parts one split creates.
pub const MAX_PARTS: usize = 16;

named_enum!(
    /// How a receivable is financed.
    FinanceKind "financing kind" {
        /// Pledged to the financier as loan security (应收账款质押).
        Pledge => "pledge",
        /// Sold to the financier (保理).
        Factoring => "factoring",
    }
);

/// A receivable as its creditor and debtor agreed it: what the debtor
/// confirms with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableTerms {
    /// Chain-wide unique id chosen by the registrar.
    pub receivable_id: String,
    /// Who is owed (USCC); the first holder.
    pub creditor: String,
    /// Who owes (USCC); it confirms the payable.
    pub debtor: String,
    /// Face amount in fen.
    pub amount_fen: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// Day the receivable arose.
    pub issued_on: Date,
    /// Day it is due.
    pub due_on: Date,
    /// Invoice numbers backing it; each backs one live receivable of the
    /// debtor at most.
    pub invoices: Vec<String>,
    /// The underlying contract.
    pub contract: String,
    /// Registration number in the unified movable-collateral registry, if any.
    pub collateral_registration: Option<String>,
}

impl ReceivableTerms {
    /// Signs the terms with the debtor enterprise's key: the debtor's
    /// confirmation of its payable.
    pub fn confirm(self, chain_id: &str, debtor: &Keypair) -> ReceivableRegister {
        let debtor_signature =
            debtor.sign(Domain::ReceivableConfirm, chain_id, &codec::encode(&self));
        ReceivableRegister {
            terms: self,
            debtor_signature,
        }
    }

    /// Checks every field (no state needed).
    pub fn validate(&self) -> Result<(), ValidationError> {
        receivable_id(&self.receivable_id)?;
        validate::uscc_lenient("creditor", &self.creditor)?;
        validate::uscc_lenient("debtor", &self.debtor)?;
        if self.creditor == self.debtor {
            return Err(ValidationError::new(
                "debtor",
                "a receivable's debtor cannot be its own creditor",
            ));
        }
        positive("amount", self.amount_fen)?;
        validate::currency("currency", &self.currency)?;
        date("issued_on", &self.issued_on)?;
        date("due_on", &self.due_on)?;
        if self.due_on < self.issued_on {
            return Err(ValidationError::new(
                "due_on",
                format!(
                    "{} is before the issue date {}",
                    self.due_on, self.issued_on
                ),
            ));
        }
        if self.invoices.is_empty() || self.invoices.len() > MAX_INVOICES {
            return Err(ValidationError::new(
                "invoices",
                format!(
                    "a receivable names 1 to {MAX_INVOICES} invoice numbers, got {}",
                    self.invoices.len()
                ),
            ));
        }
        for (i, inv) in self.invoices.iter().enumerate() {
            validate::identifier("invoices", inv, MAX_ID_CHARS)?;
            if self.invoices[..i].contains(inv) {
                return Err(ValidationError::new(
                    "invoices",
                    format!("invoice {inv} is listed twice"),
                ));
            }
        }
        validate::reference("contract", &self.contract, MAX_ID_CHARS)?;
        if let Some(r) = &self.collateral_registration {
            validate::identifier("collateral_registration", r, MAX_ID_CHARS)?;
        }
        Ok(())
    }
}

/// Registration of a receivable by a `receivables_registrar`, with the
/// debtor's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableRegister {
    /// The terms.
    pub terms: ReceivableTerms,
    /// The debtor enterprise's signature over `deltachain/receivable/v1`,
    /// the chain id and the canonical bytes of `terms`.
    pub debtor_signature: Signature,
}

impl ReceivableRegister {
    /// Verifies the debtor's confirmation with its bound key.
    pub fn verify(&self, chain_id: &str, debtor: &PublicKey) -> Result<(), SignatureError> {
        crypto::verify(
            debtor,
            Domain::ReceivableConfirm,
            chain_id,
            &codec::encode(&self.terms),
            &self.debtor_signature,
        )
    }
}

/// Financing of a receivable (or part) by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableFinance {
    /// The receivable or part.
    pub receivable_id: String,
    /// Pledge or factoring.
    pub kind: FinanceKind,
    /// Financed amount in fen, at most the unsettled balance.
    pub amount_fen: u64,
    /// Financing contract.
    pub contract: String,
    /// Last day of the financing.
    pub until: Date,
}

/// Release of the sender's financing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableRelease {
    /// The receivable or part.
    pub receivable_id: String,
}

/// One part of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivablePart {
    /// Its id, chain-wide unique.
    pub part_id: String,
    /// Who holds it (USCC).
    pub holder: String,
    /// Its amount in fen.
    pub amount_fen: u64,
}

/// The holder splits unfinanced balance into parts for new holders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableSplit {
    /// The receivable or part split.
    pub receivable_id: String,
    /// The new parts.
    pub parts: Vec<ReceivablePart>,
}

/// The holder passes an unfinanced receivable to a new holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableTransfer {
    /// The receivable or part.
    pub receivable_id: String,
    /// New holder (USCC).
    pub new_holder: String,
}

/// A payment by the debtor on a receivable or part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableSettle {
    /// The receivable or part.
    pub receivable_id: String,
    /// Paid amount in fen.
    pub amount_fen: u64,
    /// Day of payment.
    pub paid_on: Date,
}

impl ReceivableFinance {
    fn validate(&self) -> Result<(), ValidationError> {
        receivable_id(&self.receivable_id)?;
        positive("amount", self.amount_fen)?;
        validate::reference("contract", &self.contract, MAX_ID_CHARS)?;
        date("until", &self.until)
    }
}

impl ReceivableSplit {
    fn validate(&self) -> Result<(), ValidationError> {
        receivable_id(&self.receivable_id)?;
        if self.parts.is_empty() || self.parts.len() > MAX_PARTS {
            return Err(ValidationError::new(
                "parts",
                format!(
                    "a split makes 1 to {MAX_PARTS} parts, got {}",
                    self.parts.len()
                ),
            ));
        }
        let mut total: u64 = 0;
        for (i, p) in self.parts.iter().enumerate() {
            check_receivable_id("part_id", &p.part_id)?;
            if p.part_id == self.receivable_id
                || self.parts[..i].iter().any(|q| q.part_id == p.part_id)
            {
                return Err(ValidationError::new(
                    "part_id",
                    format!("part id {} is used twice", p.part_id),
                ));
            }
            validate::uscc_lenient("holder", &p.holder)?;
            positive("amount", p.amount_fen)?;
            total = total
                .checked_add(p.amount_fen)
                .ok_or_else(|| ValidationError::new("amount", "the parts add up past 2^64 fen"))?;
        }
        Ok(())
    }
}

fn receivable_id(id: &str) -> Result<(), ValidationError> {
    check_receivable_id("receivable_id", id)
}

/// Checks a receivable or part id: an identifier without `/`, since ids
/// appear in URLs.
pub fn check_receivable_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    validate::identifier(field, id, MAX_ID_CHARS)?;
    if id.contains('/') {
        return Err(ValidationError::new(
            field,
            format!(
                "{:?} contains '/'; receivable ids appear in URLs, write it with '-' instead",
                validate::truncate(id)
            ),
        ));
    }
    Ok(())
}

fn positive(field: &'static str, v: u64) -> Result<(), ValidationError> {
    if v == 0 {
        Err(ValidationError::new(field, "must be greater than zero"))
    } else {
        Ok(())
    }
}

use crate::types::date_field as date;

named_enum!(
    /// The categories of public credit information.
    PublicCategory "public-record category" {
        /// The tax authority's credit grade (纳税信用等级).
        TaxGrade => "tax_grade",
        /// Unpaid taxes (欠税).
        TaxArrears => "tax_arrears",
        /// Social insurance contributions (社保).
        SocialInsurance => "social_insurance",
        /// Housing provident fund contributions (公积金).
        HousingFund => "housing_fund",
        /// Water, electricity and gas payments.
        Utilities => "utilities",
        /// A court judgment (裁判文书).
        CourtJudgment => "court_judgment",
        /// An enforcement case (被执行).
        Enforcement => "enforcement",
        /// Listed as a dishonest judgment debtor (失信被执行人).
        DishonestDebtor => "dishonest_debtor",
        /// An administrative penalty (行政处罚).
        AdminPenalty => "admin_penalty",
    }
);

named_set!(
    /// The categories a `data_provider` may write. Two bytes on the wire;
    /// a list of names in JSON.
    Categories of PublicCategory as u16, "category"
);

named_enum!(
    /// Which utility.
    Utility "utility" {
        /// Water.
        Water => "water",
        /// Electricity.
        Electricity => "electricity",
        /// Gas.
        Gas => "gas",
    }
);

named_enum!(
    /// How an enterprise pays a utility.
    PaymentStatus "payment status" {
        /// Paid on time.
        OnTime => "on_time",
        /// Paid late (for `months` months).
        Late => "late",
        /// Unpaid (for `months` months).
        Arrears => "arrears",
    }
);

/// The typed content of a public record; the variant is the category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicData {
    /// Tax credit grade: A, B, M, C or D.
    TaxGrade {
        /// The grade.
        grade: String,
    },
    /// Unpaid taxes.
    TaxArrears {
        /// Amount in fen.
        amount_fen: u64,
    },
    /// Social insurance.
    SocialInsurance {
        /// Employees insured.
        headcount: u32,
        /// Contributions owed, in fen (0 if none).
        arrears_fen: u64,
    },
    /// Housing provident fund.
    HousingFund {
        /// Employees contributing.
        headcount: u32,
        /// Contributions owed, in fen (0 if none).
        arrears_fen: u64,
    },
    /// A utility's payment record.
    Utilities {
        /// Which utility.
        utility: Utility,
        /// How it is paid.
        status: PaymentStatus,
        /// Months late or in arrears (0 when on time).
        months: u8,
    },
    /// A court judgment naming the enterprise.
    CourtJudgment {
        /// The court's case number, like （2024）沪0115民初12345号.
        case_number: String,
        /// Amount adjudged, in fen, if any.
        amount_fen: Option<u64>,
    },
    /// An enforcement case against the enterprise.
    Enforcement {
        /// The case number, like （2024）苏01执123号.
        case_number: String,
        /// Amount to enforce, in fen.
        amount_fen: u64,
    },
    /// Listed as a dishonest judgment debtor.
    DishonestDebtor {
        /// The enforcement case that led to the listing.
        case_number: String,
    },
    /// An administrative penalty.
    AdminPenalty {
        /// The authority that imposed it.
        authority: String,
        /// Its decision number.
        decision_number: String,
        /// Fine in fen, if any.
        amount_fen: Option<u64>,
    },
}

impl PublicData {
    /// The category the content belongs to.
    pub fn category(&self) -> PublicCategory {
        match self {
            PublicData::TaxGrade { .. } => PublicCategory::TaxGrade,
            PublicData::TaxArrears { .. } => PublicCategory::TaxArrears,
            PublicData::SocialInsurance { .. } => PublicCategory::SocialInsurance,
            PublicData::HousingFund { .. } => PublicCategory::HousingFund,
            PublicData::Utilities { .. } => PublicCategory::Utilities,
            PublicData::CourtJudgment { .. } => PublicCategory::CourtJudgment,
            PublicData::Enforcement { .. } => PublicCategory::Enforcement,
            PublicData::DishonestDebtor { .. } => PublicCategory::DishonestDebtor,
            PublicData::AdminPenalty { .. } => PublicCategory::AdminPenalty,
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        match self {
            PublicData::TaxGrade { grade } => {
                if !matches!(grade.as_str(), "A" | "B" | "M" | "C" | "D") {
                    return Err(ValidationError::new(
                        "grade",
                        format!(
                            "{:?} is not a tax credit grade; grades are A, B, M, C and D",
                            validate::truncate(grade)
                        ),
                    ));
                }
                Ok(())
            }
            PublicData::TaxArrears { amount_fen } => positive("amount", *amount_fen),
            PublicData::SocialInsurance { .. } | PublicData::HousingFund { .. } => Ok(()),
            PublicData::Utilities { status, months, .. } => match (status, months) {
                (PaymentStatus::OnTime, 0) => Ok(()),
                (PaymentStatus::OnTime, _) => Err(ValidationError::new(
                    "months",
                    "an on_time payment has no months late; leave months at 0",
                )),
                (_, 0) => Err(ValidationError::new(
                    "months",
                    format!("a {status} payment needs the number of months (1 or more)"),
                )),
                (_, m) if *m > 120 => Err(ValidationError::new(
                    "months",
                    format!("{m} months is more than ten years"),
                )),
                _ => Ok(()),
            },
            PublicData::CourtJudgment {
                case_number,
                amount_fen,
            } => {
                validate::case_number("case_number", case_number)?;
                if let Some(a) = amount_fen {
                    positive("amount", *a)?;
                }
                Ok(())
            }
            PublicData::Enforcement {
                case_number,
                amount_fen,
            } => {
                validate::case_number("case_number", case_number)?;
                positive("amount", *amount_fen)
            }
            PublicData::DishonestDebtor { case_number } => {
                validate::case_number("case_number", case_number)
            }
            PublicData::AdminPenalty {
                authority,
                decision_number,
                amount_fen,
            } => {
                validate::text("authority", authority, MAX_ID_CHARS, true)?;
                validate::text("decision_number", decision_number, MAX_ID_CHARS, true)?;
                if let Some(a) = amount_fen {
                    positive("amount", *a)?;
                }
                Ok(())
            }
        }
    }
}

/// A public-credit record, sent by a `data_provider` for one of its categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRecord {
    /// The enterprise's USCC.
    pub enterprise: String,
    /// The month it concerns, `YYYY-MM`.
    pub period: String,
    /// The typed content.
    pub data: PublicData,
    /// Reference of the source document at the provider.
    pub source: String,
    /// Free text.
    pub note: Option<String>,
}

impl PublicRecord {
    fn validate(&self) -> Result<(), ValidationError> {
        validate::uscc_lenient("enterprise", &self.enterprise)?;
        validate::period("period", &self.period)?;
        self.data.validate()?;
        validate::text("source", &self.source, MAX_ID_CHARS, true)?;
        if let Some(n) = &self.note {
            validate::text("note", n, MAX_NOTE_CHARS, false)?;
        }
        Ok(())
    }
}

/// What an objection is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionTarget {
    /// A credit or public record, by the transaction that reported it.
    Record(Hash),
    /// A receivable or part, by its id.
    Receivable(String),
}

impl fmt::Display for ObjectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectionTarget::Record(h) => write!(f, "record {h}"),
            ObjectionTarget::Receivable(id) => write!(f, "receivable {id}"),
        }
    }
}

/// An enterprise's objection to a record about it (异议), filed by the
/// enterprise's own key or by a member holding its consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// The record.
    pub target: ObjectionTarget,
    /// What is wrong with it.
    pub reason: String,
    /// When a member files it for the enterprise: the enterprise's consent
    /// it holds (scope `credit` for credit and public records,
    /// `receivables` for receivables, or `all`).
    pub consent_id: Option<String>,
}

named_enum!(
    /// How a reporter answered an objection.
    ObjectionOutcome "objection outcome" {
        /// The record was wrong and is corrected (or withdrawn).
        Corrected => "corrected",
        /// The record was checked and stands.
        Upheld => "upheld",
        /// It could not be settled; the record stays marked disputed.
        Unresolved => "unresolved",
    }
);

/// The reporter's answer to an objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionResolution {
    /// The objection, by its transaction hash.
    pub objection: Hash,
    /// The answer.
    pub outcome: ObjectionOutcome,
    /// Why; for `corrected`, the correction itself.
    pub explanation: String,
    /// For `corrected`: withdraw the record rather than annotate it.
    pub withdraw: bool,
}

/// A regulator admits a pilot-era USCC whose only fault is its check
/// character (codes issued before GB 32100-2015 settled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsccException {
    /// The code.
    pub code: String,
    /// The enterprise's registered name.
    pub name: String,
    /// Why it is admitted (the licence seen, the registry checked).
    pub reason: String,
}

impl UsccException {
    fn validate(&self) -> Result<(), ValidationError> {
        if !validate::uscc_lenient("code", &self.code)? {
            return Err(ValidationError::new(
                "code",
                format!(
                    "USCC {} passes the GB 32100-2015 check; it needs no exception",
                    self.code
                ),
            ));
        }
        validate::text("name", &self.name, MAX_TITLE_CHARS, true)?;
        validate::text("reason", &self.reason, MAX_NOTE_CHARS, true)
    }
}

/// Field checks of the payloads defined here.
pub(crate) fn validate_payload(p: &crate::Payload) -> Result<(), ValidationError> {
    use crate::Payload as P;
    match p {
        P::ReceivableRegister(r) => r.terms.validate(),
        P::ReceivableFinance(f) => f.validate(),
        P::ReceivableRelease(r) => receivable_id(&r.receivable_id),
        P::ReceivableSplit(s) => s.validate(),
        P::ReceivableTransfer(t) => {
            receivable_id(&t.receivable_id)?;
            validate::uscc_lenient("to", &t.new_holder).map(|_| ())
        }
        P::ReceivableSettle(s) => {
            receivable_id(&s.receivable_id)?;
            positive("amount", s.amount_fen)?;
            date("paid_on", &s.paid_on)
        }
        P::PublicRecord(r) => r.validate(),
        P::Objection(o) => {
            if let ObjectionTarget::Receivable(id) = &o.target {
                receivable_id(id)?;
            }
            if let Some(c) = &o.consent_id {
                validate::identifier("consent_id", c, MAX_ID_CHARS)?;
            }
            validate::text("reason", &o.reason, MAX_NOTE_CHARS, true)
        }
        P::ObjectionResolution(r) => {
            validate::text("explanation", &r.explanation, MAX_NOTE_CHARS, true)?;
            if r.withdraw && r.outcome != ObjectionOutcome::Corrected {
                return Err(ValidationError::new(
                    "withdraw",
                    format!(
                        "only a corrected record can be withdrawn, not an {} one",
                        r.outcome
                    ),
                ));
            }
            Ok(())
        }
        P::UsccException(e) => e.validate(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> ReceivableTerms {
        ReceivableTerms {
            receivable_id: "AR-2026-001".into(),
            creditor: "91350100M000100Y43".into(),
            debtor: "91110108551385082Q".into(),
            amount_fen: 10_000_000,
            currency: "CNY".into(),
            issued_on: Date::new(2026, 9, 1).unwrap(),
            due_on: Date::new(2027, 3, 1).unwrap(),
            invoices: vec!["31000001".into(), "31000002".into()],
            contract: "供货-2026-17".into(),
            collateral_registration: None,
        }
    }

    #[test]
    fn receivable_terms_are_checked() {
        terms().validate().unwrap();
        let mut t = terms();
        t.debtor = t.creditor.clone();
        assert!(t.validate().unwrap_err().message.contains("own creditor"));
        let mut t = terms();
        t.invoices.push("31000001".into());
        assert!(t.validate().unwrap_err().message.contains("listed twice"));
        let mut t = terms();
        t.due_on = Date::new(2026, 8, 1).unwrap();
        assert_eq!(t.validate().unwrap_err().field, "due_on");
        let mut t = terms();
        t.invoices.clear();
        assert_eq!(t.validate().unwrap_err().field, "invoices");
    }

    #[test]
    fn confirmation_binds_the_terms() {
        let debtor = Keypair::from_secret([9; 32]);
        let r = terms().confirm("c", &debtor);
        r.verify("c", &debtor.public()).unwrap();
        assert!(r.verify("other-chain", &debtor.public()).is_err());
        let mut changed = r.clone();
        changed.terms.amount_fen += 1;
        assert!(changed.verify("c", &debtor.public()).is_err());
    }

    #[test]
    fn public_data_is_typed() {
        let ok = |d: PublicData| d.validate().unwrap();
        let bad = |d: PublicData| d.validate().unwrap_err();
        ok(PublicData::TaxGrade { grade: "M".into() });
        assert!(bad(PublicData::TaxGrade { grade: "AA".into() })
            .message
            .contains("A, B, M, C and D"));
        ok(PublicData::Utilities {
            utility: Utility::Water,
            status: PaymentStatus::Arrears,
            months: 3,
        });
        bad(PublicData::Utilities {
            utility: Utility::Water,
            status: PaymentStatus::Late,
            months: 0,
        });
        bad(PublicData::Utilities {
            utility: Utility::Gas,
            status: PaymentStatus::OnTime,
            months: 2,
        });
        ok(PublicData::CourtJudgment {
            case_number: "（2024）沪0115民初12345号".into(),
            amount_fen: Some(5),
        });
        bad(PublicData::Enforcement {
            case_number: "2024-123".into(),
            amount_fen: 5,
        });
    }

    #[test]
    fn categories_round_trip() {
        let c = Categories::parse_list("tax_grade, court_judgment").unwrap();
        assert!(c.has(PublicCategory::TaxGrade) && !c.has(PublicCategory::Utilities));
        let bytes = codec::encode(&c);
        let back: Categories = codec::decode(&bytes, 8, "c").unwrap();
        assert_eq!(back, c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"["tax_grade","court_judgment"]"#);
        assert!(codec::decode::<Categories>(&codec::encode(&0xffffu16), 8, "c").is_err());
        assert!(Categories::parse_list("taxes").is_err());
    }

    #[test]
    fn exceptions_only_for_check_character_faults() {
        let e = UsccException {
            code: "91350100M0001TGQXM".into(),
            name: "福州某公司".into(),
            reason: "licence checked".into(),
        };
        e.validate().unwrap();
        let e2 = UsccException {
            code: "91350100M000100Y43".into(),
            ..e.clone()
        };
        assert!(e2
            .validate()
            .unwrap_err()
            .message
            .contains("needs no exception"));
        let e3 = UsccException {
            code: "91350100M0001TGQXI".into(),
            ..e
        };
        assert!(e3.validate().is_err());
    }
}
