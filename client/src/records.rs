//! Builders for each record kind, from the strings a clerk types: amounts in
//! yuan with up to two decimals, ISO dates, USCCs and patent numbers. Every
//! builder validates the whole payload before it is signed.

use deltachain_protocol::{
    AddMember, Credit, CreditCorrection, CreditKind, Date, Hash, IpKind, IpPledge, IpRegister,
    IpRelease, IpTransfer, Payload, PublicKey, RemoveMember, Roles, SetRoles,
};
use deltachain_protocol::{Consent, Purpose, Scope, SignedConsent};
use deltachain_protocol::{
    FinanceKind, Objection, ObjectionOutcome, ObjectionResolution, ObjectionTarget, PublicCategory,
    PublicData, PublicRecord, ReceivableFinance, ReceivablePart, ReceivableRegister,
    ReceivableRelease, ReceivableSettle, ReceivableSplit, ReceivableTerms, ReceivableTransfer,
    UsccException,
};

use deltachain_protocol::validate::{normalize_ip_id, normalize_uscc};

use crate::ClientError;

fn input(msg: impl Into<String>) -> ClientError {
    ClientError::Input(msg.into())
}

/// Parses yuan (`1234`, `1234.5`, `1234.56`, `1,234.56`) into fen.
///
/// Thousands separators are accepted only where they belong (`1,234,567`),
/// never anywhere: `1,00` or `12,34,567` is a typing mistake that would
/// otherwise be recorded as a different amount.
pub fn yuan_to_fen(s: &str) -> Result<u64, ClientError> {
    let t = s.trim();
    let shown = deltachain_protocol::validate::truncate(t);
    if t.starts_with('-') {
        return Err(input(format!(
            "amount {shown:?}: negative amounts are not allowed; record a repayment or a correction instead"
        )));
    }
    let bad = || {
        input(format!(
            "amount {shown:?} must be yuan with at most two decimals, like 5000000, 5,000,000 or 1234.56"
        ))
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits: String = if whole.contains(',') {
        let groups: Vec<&str> = whole.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok {
            return Err(input(format!(
                "amount {shown:?} has a misplaced comma: commas may only separate groups of three digits, like 1,234,567.89"
            )));
        }
        groups.concat()
    } else {
        whole.to_string()
    };
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = digits
        .parse()
        .map_err(|_| input(format!("amount {shown:?} is too large")))?;
    let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|f| f.checked_add(frac))
        .ok_or_else(|| input(format!("amount {shown:?} is too large")))
}

/// A count with thousands separators (`1,000,000`).
pub fn group(n: u64) -> String {
    let s = deltachain_protocol::format_yuan(n.saturating_mul(100));
    s.trim_end_matches(".00").to_string()
}

/// Formats fen as yuan with two decimals.
pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn date(field: &str, s: &str) -> Result<Date, ClientError> {
    Date::parse(s).map_err(|e| input(format!("--{field}: {e}")))
}

fn checked(p: Payload) -> Result<Payload, ClientError> {
    p.validate().map_err(|e| input(format!("invalid {e}")))?;
    Ok(p)
}

/// A credit record.
#[allow(clippy::too_many_arguments)]
pub fn credit(
    enterprise: &str,
    kind: &str,
    reference: &str,
    amount_yuan: Option<&str>,
    currency: &str,
    on: &str,
    rating: Option<&str>,
    note: Option<&str>,
) -> Result<Payload, ClientError> {
    let kind: CreditKind = kind
        .parse()
        .map_err(|e: String| input(format!("--kind: {e}")))?;
    checked(Payload::Credit(Credit {
        enterprise: normalize_uscc(enterprise),
        kind,
        reference: reference.into(),
        amount_fen: amount_yuan.map(yuan_to_fen).transpose()?,
        currency: currency.into(),
        date: date("date", on)?,
        rating: rating.map(Into::into),
        note: note.map(Into::into),
    }))
}

/// A correction or withdrawal of one of the sender's credit records.
pub fn credit_correction(
    original_tx: &str,
    reason: &str,
    withdraw: bool,
) -> Result<Payload, ClientError> {
    let original_tx = Hash::from_hex(original_tx).map_err(|e| input(format!("--tx: {e}")))?;
    checked(Payload::CreditCorrection(CreditCorrection {
        original_tx,
        reason: reason.into(),
        withdraw,
    }))
}

/// An IP registration.
pub fn ip_register(
    ip_id: &str,
    kind: &str,
    title: &str,
    owner: &str,
    on: &str,
) -> Result<Payload, ClientError> {
    let kind: IpKind = kind
        .parse()
        .map_err(|e: String| input(format!("--kind: {e}")))?;
    checked(Payload::IpRegister(IpRegister {
        ip_id: normalize_ip_id(ip_id),
        kind,
        title: title.into(),
        owner: normalize_uscc(owner),
        registered_on: date("date", on)?,
    }))
}

/// An IP transfer.
pub fn ip_transfer(ip_id: &str, to: &str) -> Result<Payload, ClientError> {
    checked(Payload::IpTransfer(IpTransfer {
        ip_id: normalize_ip_id(ip_id),
        new_owner: normalize_uscc(to),
    }))
}

/// An IP pledge to the sending bank.
pub fn ip_pledge(
    ip_id: &str,
    amount_yuan: &str,
    contract: &str,
    until: &str,
) -> Result<Payload, ClientError> {
    checked(Payload::IpPledge(IpPledge {
        ip_id: normalize_ip_id(ip_id),
        amount_fen: yuan_to_fen(amount_yuan)?,
        contract: contract.into(),
        until: date("until", until)?,
    }))
}

/// An IP release.
pub fn ip_release(ip_id: &str) -> Result<Payload, ClientError> {
    checked(Payload::IpRelease(IpRelease {
        ip_id: normalize_ip_id(ip_id),
    }))
}

fn key(s: &str) -> Result<PublicKey, ClientError> {
    PublicKey::from_hex(s).map_err(|e| input(format!("--public-key: {e}")))
}

fn roles(s: &str) -> Result<Roles, ClientError> {
    Roles::parse_list(s).map_err(|e| input(format!("--roles: {e}")))
}

/// A new member (regulator only).
pub fn add_member(
    name: &str,
    public_key: &str,
    role_list: &str,
    city: &str,
    category_list: &str,
) -> Result<Payload, ClientError> {
    checked(Payload::AddMember(AddMember {
        name: name.into(),
        public_key: key(public_key)?,
        roles: roles(role_list)?,
        city: city.trim().into(),
        categories: categories(category_list)?,
    }))
}

fn categories(s: &str) -> Result<deltachain_protocol::Categories, ClientError> {
    deltachain_protocol::Categories::parse_list(s).map_err(|e| input(format!("--categories: {e}")))
}

/// Removal of a member (regulator only).
pub fn remove_member(public_key: &str) -> Result<Payload, ClientError> {
    checked(Payload::RemoveMember(RemoveMember {
        public_key: key(public_key)?,
    }))
}

/// New roles for a member (regulator only).
pub fn set_roles(
    public_key: &str,
    role_list: &str,
    category_list: &str,
) -> Result<Payload, ClientError> {
    checked(Payload::SetRoles(SetRoles {
        public_key: key(public_key)?,
        roles: roles(role_list)?,
        categories: categories(category_list)?,
    }))
}

/// Binds (or replaces) an enterprise's key (enterprise_registrar).
pub fn enterprise_key(uscc: &str, public_key: &str) -> Result<Payload, ClientError> {
    checked(Payload::EnterpriseKey(deltachain_protocol::EnterpriseKey {
        uscc: normalize_uscc(uscc),
        public_key: key(public_key)?,
    }))
}

/// Largest consent file read.
pub const MAX_CONSENT_FILE_BYTES: u64 = 64 * 1024;

/// Reads a signed consent file (as written by `deltachain consent sign`).
pub fn read_consent(path: &std::path::Path) -> Result<SignedConsent, ClientError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| input(format!("cannot read consent file {}: {e}", path.display())))?;
    let mut text = String::new();
    f.take(MAX_CONSENT_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| input(format!("cannot read consent file {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_CONSENT_FILE_BYTES {
        return Err(input(format!(
            "consent file {} is over {MAX_CONSENT_FILE_BYTES} bytes; it is not a consent",
            path.display()
        )));
    }
    let c: SignedConsent = serde_json::from_str(&text).map_err(|e| {
        input(format!(
            "consent file {} is not a signed consent: {e}",
            path.display()
        ))
    })?;
    c.consent
        .validate()
        .map_err(|e| input(format!("consent file {}: invalid {e}", path.display())))?;
    Ok(c)
}

/// A consent grant from a signed consent.
pub fn consent_grant(c: SignedConsent) -> Result<Payload, ClientError> {
    checked(Payload::ConsentGrant(c))
}

/// What `deltachain consent sign` needs besides the enterprise's key.
pub struct ConsentTerms<'a> {
    /// The network's chain id.
    pub chain_id: &'a str,
    /// The enterprise's USCC.
    pub enterprise: &'a str,
    /// The member allowed to read.
    pub grantee: PublicKey,
    /// `credit`, `ip`, `receivables` or `all`.
    pub scope: &'a str,
    /// One of the purposes.
    pub purpose: &'a str,
    /// First day, `YYYY-MM-DD`.
    pub not_before: &'a str,
    /// Last day, `YYYY-MM-DD`.
    pub until: &'a str,
    /// The consent's id.
    pub consent_id: &'a str,
}

/// A consent signed with the enterprise's key, checked before signing.
pub fn sign_consent(
    t: &ConsentTerms<'_>,
    enterprise_key: &deltachain_protocol::Keypair,
) -> Result<SignedConsent, ClientError> {
    let consent = Consent {
        chain_id: t.chain_id.to_string(),
        enterprise: normalize_uscc(t.enterprise),
        grantee: t.grantee,
        scope: t
            .scope
            .parse::<Scope>()
            .map_err(|e| input(format!("--scope: {e}")))?,
        purpose: t
            .purpose
            .parse::<Purpose>()
            .map_err(|e| input(format!("--purpose: {e}")))?,
        not_before: date("not-before", t.not_before)?,
        until: date("until", t.until)?,
        consent_id: t.consent_id.to_string(),
    };
    consent
        .validate()
        .map_err(|e| input(format!("invalid {e}")))?;
    Ok(consent.sign(enterprise_key))
}

/// A revocation of `consent_id`, signed with the enterprise's key.
pub fn consent_revoke(
    chain_id: &str,
    consent_id: &str,
    enterprise_key: &deltachain_protocol::Keypair,
) -> Result<Payload, ClientError> {
    checked(Payload::ConsentRevoke(
        deltachain_protocol::ConsentRevoke::sign(chain_id, consent_id.trim(), enterprise_key),
    ))
}

/// What `submit receivable-register` needs: the terms as typed.
pub struct ReceivableInput<'a> {
    /// Receivable id.
    pub id: &'a str,
    /// Creditor USCC.
    pub creditor: &'a str,
    /// Debtor USCC.
    pub debtor: &'a str,
    /// Face amount in yuan.
    pub amount: &'a str,
    /// Currency.
    pub currency: &'a str,
    /// Issue date.
    pub issued: &'a str,
    /// Due date.
    pub due: &'a str,
    /// Invoice numbers (each may itself be a comma-separated list).
    pub invoices: &'a [String],
    /// Underlying contract.
    pub contract: &'a str,
    /// Movable-collateral registration number.
    pub collateral_registration: Option<&'a str>,
}

/// Receivable terms from typed input, checked.
pub fn receivable_terms(i: &ReceivableInput<'_>) -> Result<ReceivableTerms, ClientError> {
    let invoices: Vec<String> = i
        .invoices
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let terms = ReceivableTerms {
        receivable_id: i.id.trim().into(),
        creditor: normalize_uscc(i.creditor),
        debtor: normalize_uscc(i.debtor),
        amount_fen: yuan_to_fen(i.amount)?,
        currency: i.currency.into(),
        issued_on: date("issued", i.issued)?,
        due_on: date("due", i.due)?,
        invoices,
        contract: i.contract.into(),
        collateral_registration: i.collateral_registration.map(|s| s.trim().to_string()),
    };
    terms
        .validate()
        .map_err(|e| input(format!("invalid {e}")))?;
    Ok(terms)
}

/// A receivable registration: the terms with the debtor's confirmation.
pub fn receivable_register(r: ReceivableRegister) -> Result<Payload, ClientError> {
    checked(Payload::ReceivableRegister(r))
}

/// Financing of a receivable by the sending bank.
pub fn receivable_finance(
    id: &str,
    kind: &str,
    amount_yuan: &str,
    contract: &str,
    until: &str,
) -> Result<Payload, ClientError> {
    checked(Payload::ReceivableFinance(ReceivableFinance {
        receivable_id: id.trim().into(),
        kind: kind
            .parse::<FinanceKind>()
            .map_err(|e| input(format!("--kind: {e}")))?,
        amount_fen: yuan_to_fen(amount_yuan)?,
        contract: contract.into(),
        until: date("until", until)?,
    }))
}

/// Release of the sender's financing.
pub fn receivable_release(id: &str) -> Result<Payload, ClientError> {
    checked(Payload::ReceivableRelease(ReceivableRelease {
        receivable_id: id.trim().into(),
    }))
}

/// A split into parts, each typed as `PART_ID:HOLDER_USCC:AMOUNT_YUAN`.
pub fn receivable_split(id: &str, parts: &[String]) -> Result<Payload, ClientError> {
    let parts = parts
        .iter()
        .map(|p| {
            let f: Vec<&str> = p.splitn(3, ':').collect();
            let [part_id, holder, amount] = f.as_slice() else {
                return Err(input(format!(
                    "--part {:?} must be PART_ID:HOLDER_USCC:AMOUNT, like AR-1-a:91350100M000100Y43:300,000",
                    deltachain_protocol::validate::truncate(p)
                )));
            };
            Ok(ReceivablePart {
                part_id: part_id.trim().into(),
                holder: normalize_uscc(holder),
                amount_fen: yuan_to_fen(amount)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    checked(Payload::ReceivableSplit(ReceivableSplit {
        receivable_id: id.trim().into(),
        parts,
    }))
}

/// A receivable passed to a new holder.
pub fn receivable_transfer(id: &str, to: &str) -> Result<Payload, ClientError> {
    checked(Payload::ReceivableTransfer(ReceivableTransfer {
        receivable_id: id.trim().into(),
        new_holder: normalize_uscc(to),
    }))
}

/// A payment on a receivable.
pub fn receivable_settle(
    id: &str,
    amount_yuan: &str,
    paid_on: &str,
) -> Result<Payload, ClientError> {
    checked(Payload::ReceivableSettle(ReceivableSettle {
        receivable_id: id.trim().into(),
        amount_fen: yuan_to_fen(amount_yuan)?,
        paid_on: date("paid-on", paid_on)?,
    }))
}

/// The typed fields of a public record, as flags; which ones a category
/// needs is checked here.
#[derive(Default)]
pub struct PublicFields<'a> {
    /// Tax grade.
    pub grade: Option<&'a str>,
    /// Amount in yuan (arrears, enforcement, judgment, fine).
    pub amount: Option<&'a str>,
    /// Headcount (social insurance, housing fund).
    pub headcount: Option<u32>,
    /// Contributions owed in yuan.
    pub arrears: Option<&'a str>,
    /// water, electricity or gas.
    pub utility: Option<&'a str>,
    /// on_time, late or arrears.
    pub status: Option<&'a str>,
    /// Months late or in arrears.
    pub months: Option<u8>,
    /// Court case number.
    pub case_number: Option<&'a str>,
    /// Authority of a penalty.
    pub authority: Option<&'a str>,
    /// Decision number of a penalty.
    pub decision_number: Option<&'a str>,
}

/// A public-credit record.
pub fn public_record(
    enterprise: &str,
    category: &str,
    period: &str,
    source: &str,
    note: Option<&str>,
    f: &PublicFields<'_>,
) -> Result<Payload, ClientError> {
    let category: PublicCategory = category
        .parse()
        .map_err(|e: String| input(format!("--category: {e}")))?;
    let need = |v: Option<&'_ str>, flag: &str| {
        v.map(str::to_string)
            .ok_or_else(|| input(format!("a {category} record needs --{flag}")))
    };
    let money = |v: Option<&str>| v.map(yuan_to_fen).transpose();
    let case = || need(f.case_number, "case-number").map(|c| normalize_case_number(&c));
    let data = match category {
        PublicCategory::TaxGrade => PublicData::TaxGrade {
            grade: need(f.grade, "grade")?.trim().to_ascii_uppercase(),
        },
        PublicCategory::TaxArrears => PublicData::TaxArrears {
            amount_fen: yuan_to_fen(&need(f.amount, "amount")?)?,
        },
        PublicCategory::SocialInsurance | PublicCategory::HousingFund => {
            let headcount = f
                .headcount
                .ok_or_else(|| input(format!("a {category} record needs --headcount")))?;
            let arrears_fen = money(f.arrears)?.unwrap_or(0);
            if category == PublicCategory::SocialInsurance {
                PublicData::SocialInsurance {
                    headcount,
                    arrears_fen,
                }
            } else {
                PublicData::HousingFund {
                    headcount,
                    arrears_fen,
                }
            }
        }
        PublicCategory::Utilities => PublicData::Utilities {
            utility: need(f.utility, "utility")?
                .parse()
                .map_err(|e: String| input(format!("--utility: {e}")))?,
            status: need(f.status, "status")?
                .parse()
                .map_err(|e: String| input(format!("--status: {e}")))?,
            months: f.months.unwrap_or(0),
        },
        PublicCategory::CourtJudgment => PublicData::CourtJudgment {
            case_number: case()?,
            amount_fen: money(f.amount)?,
        },
        PublicCategory::Enforcement => PublicData::Enforcement {
            case_number: case()?,
            amount_fen: yuan_to_fen(&need(f.amount, "amount")?)?,
        },
        PublicCategory::DishonestDebtor => PublicData::DishonestDebtor {
            case_number: case()?,
        },
        PublicCategory::AdminPenalty => PublicData::AdminPenalty {
            authority: need(f.authority, "authority")?,
            decision_number: need(f.decision_number, "decision-number")?,
            amount_fen: money(f.amount)?,
        },
    };
    checked(Payload::PublicRecord(PublicRecord {
        enterprise: normalize_uscc(enterprise),
        period: period.trim().into(),
        data,
        source: source.into(),
        note: note.map(Into::into),
    }))
}

/// Court case numbers as typed: half-width parentheses become full-width,
/// the form courts print, so one case has one spelling on chain.
pub fn normalize_case_number(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            c => c,
        })
        .collect()
}

/// An objection to a record (`--tx`) or a receivable.
pub fn objection(
    tx: Option<&str>,
    receivable: Option<&str>,
    reason: &str,
    consent_id: Option<&str>,
) -> Result<Payload, ClientError> {
    let target = match (tx, receivable) {
        (Some(h), None) => ObjectionTarget::Record(
            Hash::from_hex(h.trim()).map_err(|e| input(format!("--tx: {e}")))?,
        ),
        (None, Some(id)) => ObjectionTarget::Receivable(id.trim().into()),
        _ => {
            return Err(input(
                "say what the objection is about: --tx HASH of a credit or public record, or --receivable ID",
            ))
        }
    };
    checked(Payload::Objection(Objection {
        target,
        reason: reason.into(),
        consent_id: consent_id.map(|c| c.trim().to_string()),
    }))
}

/// The reporter's answer to an objection.
pub fn objection_resolve(
    objection: &str,
    outcome: &str,
    explanation: &str,
    withdraw: bool,
) -> Result<Payload, ClientError> {
    checked(Payload::ObjectionResolution(ObjectionResolution {
        objection: Hash::from_hex(objection.trim())
            .map_err(|e| input(format!("--objection: {e}")))?,
        outcome: outcome
            .parse::<ObjectionOutcome>()
            .map_err(|e| input(format!("--outcome: {e}")))?,
        explanation: explanation.into(),
        withdraw,
    }))
}

/// A regulator's exception for a pilot-era code.
pub fn uscc_exception(code: &str, name: &str, reason: &str) -> Result<Payload, ClientError> {
    checked(Payload::UsccException(UsccException {
        code: normalize_uscc(code),
        name: name.trim().into(),
        reason: reason.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_parsing() {
        assert_eq!(yuan_to_fen("5000000").unwrap(), 500_000_000);
        assert_eq!(yuan_to_fen("1234.5").unwrap(), 123_450);
        assert_eq!(yuan_to_fen("1,234.56").unwrap(), 123_456);
        assert_eq!(yuan_to_fen("0.01").unwrap(), 1);
        assert_eq!(yuan_to_fen("1,234,567").unwrap(), 123_456_700);
        assert_eq!(yuan_to_fen("12,345.6").unwrap(), 1_234_560);
        // Commas only between groups of three: each of these was silently
        // read as another amount before.
        for misplaced in ["1,00", "12,34,567", "1234,567", ",123", "1,", "1,2345"] {
            let e = yuan_to_fen(misplaced).unwrap_err().to_string();
            assert!(e.contains("misplaced comma"), "{misplaced}: {e}");
        }
        let e = yuan_to_fen("-5").unwrap_err().to_string();
        assert!(e.contains("negative amounts are not allowed"), "{e}");
        for bad in [
            "-1",
            "1_000",
            "1.234",
            "abc",
            "",
            "1e5",
            ".5",
            "99999999999999999999",
        ] {
            assert!(yuan_to_fen(bad).is_err(), "{bad}");
        }
        assert_eq!(fen_to_yuan(123_456), "1234.56");
    }

    #[test]
    fn typed_input_is_normalized() {
        let p = ip_pledge(" zl201710601862.3 ", "1", "C-1", "2027-01-01").unwrap();
        assert!(matches!(p, Payload::IpPledge(ref x) if x.ip_id == "ZL201710601862.3"));
        credit(
            "91350100m000100y43",
            "loan",
            "LN-1",
            Some("1"),
            "CNY",
            "2026-01-01",
            None,
            None,
        )
        .unwrap();
    }

    #[test]
    fn builders_validate() {
        credit(
            "91350100M000100Y43",
            "loan",
            "LN-1",
            Some("100"),
            "CNY",
            "2026-01-01",
            None,
            None,
        )
        .unwrap();
        // A wrong check character alone is for the node to judge (a
        // regulator may have admitted the code); a wrong alphabet is not.
        let pilot = credit(
            "91350100M000100Y44",
            "loan",
            "LN-1",
            Some("100"),
            "CNY",
            "2026-01-01",
            None,
            None,
        )
        .unwrap();
        assert_eq!(pilot.usccs_needing_exception().len(), 1);
        let e = credit(
            "91350100M000I00Y43",
            "loan",
            "LN-1",
            Some("100"),
            "CNY",
            "2026-01-01",
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("enterprise"), "{e}");
        assert!(credit(
            "91350100M000100Y43",
            "lone",
            "LN-1",
            Some("1"),
            "CNY",
            "2026-01-01",
            None,
            None
        )
        .is_err());
        assert!(ip_register(
            "ZL201710601862.4",
            "patent",
            "t",
            "91350100M000100Y43",
            "2020-01-01"
        )
        .is_err());
        ip_register(
            "ZL201710601862.3",
            "patent",
            "t",
            "91350100M000100Y43",
            "2020-01-01",
        )
        .unwrap();
        assert!(ip_pledge("ZL201710601862.3", "100", "C-1", "2027-02-30").is_err());
    }
}
