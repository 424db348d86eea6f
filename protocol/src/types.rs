//! The wire types: records, transactions, blocks, votes, proposals, commit
//! certificates and receipts.
//!
//! Every type here has one canonical binary encoding ([`crate::codec`]) and a
//! JSON form (serde) that the API shows. Enums are externally tagged in JSON
//! (`{"ip_pledge": {...}}`) because bincode cannot decode internally tagged
//! enums.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey, Signature};
use crate::codec::{self, DecodeError};
use crate::crypto::{self, BatchItem, Domain, Keypair, SignatureError};
use crate::merkle;
use crate::time::Date;
use crate::validate::{self, ValidationError};

/// Block height; the first block after genesis is height 1.
pub type Height = u64;
/// Consensus round within a height, from 0.
pub type Round = u32;
/// Position of a validator in the genesis validator list.
pub type ValidatorIndex = u16;

/// Largest encoded signed transaction.
pub const MAX_TX_BYTES: usize = 4096;
/// Largest encoded block any node will decode, whatever the genesis says.
pub const MAX_BLOCK_BYTES: usize = 32 * 1024 * 1024;
/// Largest encoded vote.
pub const MAX_VOTE_BYTES: usize = 256;
/// Largest encoded proposal (without its block).
pub const MAX_PROPOSAL_BYTES: usize = 256;

/// Longest free text (notes, reasons), in characters of any script. Enough
/// for a clerk's paragraph in Chinese; 500 four-byte characters still leave
/// a credit record well inside [`MAX_TX_BYTES`].
pub const MAX_NOTE_CHARS: usize = 500;
/// Longest title of an IP record, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest identifier or reference (references, contract ids, non-patent IP
/// ids, names), in characters.
pub const MAX_ID_CHARS: usize = 64;

/// Fen as yuan with thousands separators (`123456789` is `1,234,567.89`),
/// the way receipts, reports and clerks write amounts.
pub fn format_yuan(fen: u64) -> String {
    let whole = (fen / 100).to_string();
    let mut out = String::with_capacity(whole.len() + whole.len() / 3 + 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}.{:02}", fen % 100)
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident $label:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in JSON and on the command line.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            /// Case and surrounding spaces do not matter (`Loan` is `loan`).
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} {:?}; expected one of: {}",
                        $label,
                        crate::validate::truncate(s),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

named_enum!(
    /// What a member may do.
    Role "role" {
        /// Submits credit records.
        CreditReporter => "credit_reporter",
        /// Registers and transfers IP.
        IpRegistrar => "ip_registrar",
        /// Pledges and releases IP.
        Lender => "lender",
        /// Reads everything and manages membership.
        Regulator => "regulator",
        /// Query only.
        Reader => "reader",
        /// Binds enterprises' keys (a city's administration for market
        /// regulation).
        EnterpriseRegistrar => "enterprise_registrar",
        /// Registers supply-chain receivables and records their payment (a
        /// supply-chain finance platform or a bank).
        ReceivablesRegistrar => "receivables_registrar",
        /// Writes public-credit records of the categories it was given (a
        /// tax bureau, a court, a utility, a social-insurance fund).
        DataProvider => "data_provider",
    }
);

named_enum!(
    /// The kind of a credit record.
    CreditKind "credit kind" {
        /// A loan was granted (amount).
        Loan => "loan",
        /// A repayment was made (amount).
        Repayment => "repayment",
        /// A payment is overdue (amount).
        Overdue => "overdue",
        /// The borrower defaulted (amount).
        Default => "default",
        /// A guarantee was given (amount).
        Guarantee => "guarantee",
        /// A credit rating (grade, no amount).
        Rating => "rating",
    }
);

named_enum!(
    /// The kind of an intellectual-property right.
    IpKind "IP kind" {
        /// A patent; its id is a CNIPA patent number with check digit.
        Patent => "patent",
        /// A trademark registration.
        Trademark => "trademark",
        /// A copyright registration.
        Copyright => "copyright",
        /// A software copyright registration.
        SoftwareCopyright => "software_copyright",
    }
);

/// A set of a `named_enum!`'s values as a bitmask: one integer on the
/// wire, a list of names in JSON.
macro_rules! named_set {
    ($(#[$meta:meta])* $name:ident of $item:ident as $bits:ty, $label:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name($bits);

        impl $name {
            /// The empty set.
            pub const NONE: $name = $name(0);
            fn bit(item: $item) -> $bits {
                1 << (item as $bits)
            }
            /// A set from a list.
            pub fn from_list(list: &[$item]) -> $name {
                $name(list.iter().fold(0, |acc, i| acc | $name::bit(*i)))
            }
            /// Whether the set has `item`.
            pub fn has(&self, item: $item) -> bool {
                self.0 & $name::bit(item) != 0
            }
            /// The members of the set, in declaration order.
            pub fn to_list(&self) -> Vec<$item> {
                $item::ALL.iter().copied().filter(|i| self.has(*i)).collect()
            }
            /// True for the empty set.
            pub fn is_empty(&self) -> bool {
                self.0 == 0
            }
            /// Parses `a,b,c` (blank: the empty set).
            pub fn parse_list(s: &str) -> Result<$name, String> {
                if s.trim().is_empty() {
                    return Ok($name::NONE);
                }
                let list = s
                    .split(',')
                    .map(|i| i.trim().parse::<$item>())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok($name::from_list(&list))
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_list().entries(self.to_list()).finish()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let names: Vec<&str> = self.to_list().iter().map(|i| i.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    self.to_list().serialize(s)
                } else {
                    <$bits as ::serde::Serialize>::serialize(&self.0, s)
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                if d.is_human_readable() {
                    let list = Vec::<$item>::deserialize(d)?;
                    Ok($name::from_list(&list))
                } else {
                    let bits = <$bits>::deserialize(d)?;
                    if u32::from(bits) >> $item::ALL.len() != 0 {
                        return Err(::serde::de::Error::custom(format!(
                            concat!("unknown ", $label, " bits {:#x}"),
                            bits
                        )));
                    }
                    Ok($name(bits))
                }
            }
        }
    };
}

named_set!(
    /// A set of roles. One byte on the wire; a list of names in JSON.
    Roles of Role as u8, "role"
);

/// A credit event on an enterprise, reported by a bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The enterprise's USCC.
    pub enterprise: String,
    /// What happened.
    pub kind: CreditKind,
    /// Contract or loan id at the reporting bank.
    pub reference: String,
    /// Amount in fen; required except for ratings.
    pub amount_fen: Option<u64>,
    /// ISO 4217 currency code, `CNY` by default.
    pub currency: String,
    /// When it happened.
    pub date: Date,
    /// Rating grade, for `rating` records.
    pub rating: Option<String>,
    /// Free text.
    pub note: Option<String>,
}

/// A correction or withdrawal of one of the sender's own credit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditCorrection {
    /// Hash of the transaction that carried the original record.
    pub original_tx: Hash,
    /// Why.
    pub reason: String,
    /// True to withdraw the record rather than annotate it.
    pub withdraw: bool,
}

/// Registration of an IP right by an IP office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRegister {
    /// Patent number or registration id.
    pub ip_id: String,
    /// Kind of right.
    pub kind: IpKind,
    /// Title of the invention or mark.
    pub title: String,
    /// Owner's USCC.
    pub owner: String,
    /// Registration date.
    pub registered_on: Date,
}

/// Transfer of a registered IP right to a new owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpTransfer {
    /// The IP.
    pub ip_id: String,
    /// New owner's USCC.
    pub new_owner: String,
}

/// A pledge of an IP right to the sending bank as loan security.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPledge {
    /// The IP.
    pub ip_id: String,
    /// Secured amount in fen.
    pub amount_fen: u64,
    /// Pledge contract reference.
    pub contract: String,
    /// Last day of the pledge.
    pub until: Date,
}

/// Release of the sender's pledge on an IP right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRelease {
    /// The IP.
    pub ip_id: String,
}

/// A new member organisation (regulator only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMember {
    /// Display name, unique.
    pub name: String,
    /// Its signing key.
    pub public_key: PublicKey,
    /// What it may do.
    pub roles: Roles,
    /// The city it reports from (shown in reports by city); may be empty.
    #[serde(default)]
    pub city: String,
    /// For a `data_provider`: the public-record categories it may write.
    #[serde(default)]
    pub categories: crate::registry::Categories,
}

/// Removal of a member (regulator only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveMember {
    /// The member's key.
    pub public_key: PublicKey,
}

/// New roles for a member (regulator only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRoles {
    /// The member's key.
    pub public_key: PublicKey,
    /// Its new roles.
    pub roles: Roles,
    /// Its new public-record categories (for a `data_provider`).
    #[serde(default)]
    pub categories: crate::registry::Categories,
}

/// What a transaction asks the ledger to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A credit record.
    Credit(Credit),
    /// A correction of a credit record.
    CreditCorrection(CreditCorrection),
    /// An IP registration.
    IpRegister(IpRegister),
    /// An IP transfer.
    IpTransfer(IpTransfer),
    /// An IP pledge.
    IpPledge(IpPledge),
    /// An IP release.
    IpRelease(IpRelease),
    /// Membership: add.
    AddMember(AddMember),
    /// Membership: remove.
    RemoveMember(RemoveMember),
    /// Membership: change roles.
    SetRoles(SetRoles),
    /// An enterprise's key, bound by a registrar.
    EnterpriseKey(crate::access::EnterpriseKey),
    /// An enterprise's consent for a member to read its data.
    ConsentGrant(crate::access::SignedConsent),
    /// An enterprise's revocation of a consent.
    ConsentRevoke(crate::access::ConsentRevoke),
    /// A serving node's record of reads of enterprise data.
    AuditBatch(crate::access::AuditBatch),
    /// A receivable, confirmed by its debtor.
    ReceivableRegister(crate::registry::ReceivableRegister),
    /// Financing of a receivable.
    ReceivableFinance(crate::registry::ReceivableFinance),
    /// Release of a financing.
    ReceivableRelease(crate::registry::ReceivableRelease),
    /// A split of a receivable into parts.
    ReceivableSplit(crate::registry::ReceivableSplit),
    /// A receivable passed to a new holder.
    ReceivableTransfer(crate::registry::ReceivableTransfer),
    /// A payment on a receivable.
    ReceivableSettle(crate::registry::ReceivableSettle),
    /// A public-credit record.
    PublicRecord(crate::registry::PublicRecord),
    /// An enterprise's objection to a record.
    Objection(crate::registry::Objection),
    /// The reporter's answer to an objection.
    ObjectionResolution(crate::registry::ObjectionResolution),
    /// A regulator admits a pilot-era code.
    UsccException(crate::registry::UsccException),
}

impl Payload {
    /// Short name of the payload kind, as in JSON.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::Credit(_) => "credit",
            Payload::CreditCorrection(_) => "credit_correction",
            Payload::IpRegister(_) => "ip_register",
            Payload::IpTransfer(_) => "ip_transfer",
            Payload::IpPledge(_) => "ip_pledge",
            Payload::IpRelease(_) => "ip_release",
            Payload::AddMember(_) => "add_member",
            Payload::RemoveMember(_) => "remove_member",
            Payload::SetRoles(_) => "set_roles",
            Payload::EnterpriseKey(_) => "enterprise_key",
            Payload::ConsentGrant(_) => "consent_grant",
            Payload::ConsentRevoke(_) => "consent_revoke",
            Payload::AuditBatch(_) => "audit_batch",
            Payload::ReceivableRegister(_) => "receivable_register",
            Payload::ReceivableFinance(_) => "receivable_finance",
            Payload::ReceivableRelease(_) => "receivable_release",
            Payload::ReceivableSplit(_) => "receivable_split",
            Payload::ReceivableTransfer(_) => "receivable_transfer",
            Payload::ReceivableSettle(_) => "receivable_settle",
            Payload::PublicRecord(_) => "public_record",
            Payload::Objection(_) => "objection",
            Payload::ObjectionResolution(_) => "objection_resolution",
            Payload::UsccException(_) => "uscc_exception",
        }
    }

    /// Every enterprise code the payload names, with the field that names
    /// it: the ledger and the node's admission check that each code that
    /// fails the GB 32100-2015 check was admitted by a regulator.
    pub fn usccs(&self) -> Vec<(&'static str, &str)> {
        match self {
            Payload::Credit(c) => vec![("enterprise", &c.enterprise)],
            Payload::IpRegister(r) => vec![("owner", &r.owner)],
            Payload::IpTransfer(t) => vec![("to", &t.new_owner)],
            Payload::EnterpriseKey(k) => vec![("uscc", &k.uscc)],
            Payload::ConsentGrant(c) => vec![("enterprise", &c.consent.enterprise)],
            Payload::ReceivableRegister(r) => {
                vec![("creditor", &r.terms.creditor), ("debtor", &r.terms.debtor)]
            }
            Payload::ReceivableSplit(s) => s
                .parts
                .iter()
                .map(|p| ("holder", p.holder.as_str()))
                .collect(),
            Payload::ReceivableTransfer(t) => vec![("to", &t.new_holder)],
            Payload::PublicRecord(r) => vec![("enterprise", &r.enterprise)],
            _ => Vec::new(),
        }
    }

    /// The codes in the payload that fail the GB 32100-2015 check (and so
    /// need a regulator's exception), with their fields.
    pub fn usccs_needing_exception(&self) -> Vec<(&'static str, &str)> {
        self.usccs()
            .into_iter()
            .filter(|(_, c)| validate::uscc_check_fault(c).is_some())
            .collect()
    }

    /// Checks every field of the payload (no ledger state needed).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Payload::Credit(c) => {
                validate::uscc_lenient("enterprise", &c.enterprise)?;
                validate::reference("reference", &c.reference, MAX_ID_CHARS)?;
                validate::currency("currency", &c.currency)?;
                match (c.kind, c.amount_fen, &c.rating) {
                    (CreditKind::Rating, _, None) => {
                        return Err(ValidationError::new(
                            "rating",
                            "a rating record needs a grade",
                        ))
                    }
                    (CreditKind::Rating, Some(_), _) => {
                        return Err(ValidationError::new(
                            "amount",
                            "a rating record has no amount",
                        ))
                    }
                    (CreditKind::Rating, None, Some(r)) => rating_grade(r)?,
                    (kind, None, _) => {
                        return Err(ValidationError::new(
                            "amount",
                            format!("a {kind} record needs an amount"),
                        ))
                    }
                    (_, Some(0), _) => {
                        return Err(ValidationError::new("amount", "must be greater than zero"))
                    }
                    (_, Some(_), Some(r)) => rating_grade(r)?,
                    (_, Some(_), None) => {}
                }
                if let Some(n) = &c.note {
                    validate::text("note", n, MAX_NOTE_CHARS, false)?;
                }
                date_field("date", &c.date)
            }
            Payload::CreditCorrection(c) => {
                validate::text("reason", &c.reason, MAX_NOTE_CHARS, true)
            }
            Payload::IpRegister(r) => {
                ip_id(&r.ip_id, Some(r.kind))?;
                validate::text("title", &r.title, MAX_TITLE_CHARS, true)?;
                validate::uscc_lenient("owner", &r.owner)?;
                date_field("date", &r.registered_on)
            }
            Payload::IpTransfer(t) => {
                ip_id(&t.ip_id, None)?;
                validate::uscc_lenient("to", &t.new_owner).map(|_| ())
            }
            Payload::IpPledge(p) => {
                ip_id(&p.ip_id, None)?;
                if p.amount_fen == 0 {
                    return Err(ValidationError::new("amount", "must be greater than zero"));
                }
                validate::reference("contract", &p.contract, MAX_ID_CHARS)?;
                date_field("until", &p.until)
            }
            Payload::IpRelease(r) => ip_id(&r.ip_id, None),
            Payload::AddMember(m) => {
                validate::reference("name", &m.name, MAX_ID_CHARS)?;
                member_key(&m.public_key)?;
                if m.roles.is_empty() {
                    return Err(ValidationError::new(
                        "roles",
                        "a member needs at least one role",
                    ));
                }
                validate::text("city", &m.city, MAX_ID_CHARS, false)?;
                provider_categories(m.roles, m.categories)
            }
            Payload::RemoveMember(m) => member_key(&m.public_key),
            Payload::SetRoles(m) => {
                member_key(&m.public_key)?;
                if m.roles.is_empty() {
                    return Err(ValidationError::new(
                        "roles",
                        "a member needs at least one role; use remove_member to remove it",
                    ));
                }
                provider_categories(m.roles, m.categories)
            }
            Payload::EnterpriseKey(k) => {
                validate::uscc_lenient("uscc", &k.uscc)?;
                member_key(&k.public_key)
            }
            Payload::ConsentGrant(c) => c.consent.validate(),
            Payload::ConsentRevoke(r) => {
                validate::identifier("consent_id", &r.consent_id, MAX_ID_CHARS)
            }
            Payload::AuditBatch(b) => b.validate(),
            _ => crate::registry::validate_payload(self),
        }
    }
}

/// A `data_provider` writes at least one category; no one else has any.
fn provider_categories(
    roles: Roles,
    categories: crate::registry::Categories,
) -> Result<(), ValidationError> {
    match (roles.has(Role::DataProvider), categories.is_empty()) {
        (true, true) => Err(ValidationError::new(
            "categories",
            "a data_provider needs the public-record categories it may write",
        )),
        (false, false) => Err(ValidationError::new(
            "categories",
            "only a data_provider has public-record categories",
        )),
        _ => Ok(()),
    }
}

fn rating_grade(r: &str) -> Result<(), ValidationError> {
    if r.is_empty()
        || r.len() > 8
        || !r
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
    {
        return Err(ValidationError::new(
            "rating",
            format!(
                "{:?} is not a rating grade like AAA, BBB+ or A-",
                validate::truncate(r)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn date_field(field: &'static str, d: &Date) -> Result<(), ValidationError> {
    if d.is_valid() {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("{d} is not a calendar date"),
        ))
    }
}

fn member_key(key: &PublicKey) -> Result<(), ValidationError> {
    crypto::check_public_key(key).map_err(|e| ValidationError::new("public_key", e.to_string()))
}

/// Checks an IP id; patent numbers get the full check when the kind is known.
pub fn ip_id(id: &str, kind: Option<IpKind>) -> Result<(), ValidationError> {
    match kind {
        Some(IpKind::Patent) => validate::patent_number("ip_id", id),
        _ if id.starts_with("ZL") => validate::patent_number("ip_id", id),
        _ if id.contains('/') => Err(ValidationError::new(
            "ip_id",
            format!(
                "{:?} contains '/'; IP ids appear in URLs, write it with '-' instead",
                validate::truncate(id)
            ),
        )),
        _ => validate::identifier("ip_id", id, MAX_ID_CHARS),
    }
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The network it is meant for.
    pub chain_id: String,
    /// The member who signs it.
    pub sender: PublicKey,
    /// Strictly increasing per sender, from 1.
    pub nonce: u64,
    /// What it does.
    pub payload: Payload,
}

/// Why a transaction was refused before execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A field is invalid.
    #[error("invalid {0}")]
    Invalid(#[from] ValidationError),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    /// The transaction is for another network.
    #[error("transaction is for chain {got:?}, this is chain {expected:?}")]
    WrongChain {
        /// Chain id in the transaction.
        got: String,
        /// Our chain id.
        expected: String,
    },
    /// The encoding is over the size limit.
    #[error("transaction is {0} bytes encoded, over the 4096-byte limit")]
    TooLarge(usize),
}

impl Transaction {
    /// Signs the transaction.
    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(Domain::Tx, &self.chain_id, &codec::encode(&self));
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its sender's signature. Its hash names it everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// The sender's signature over `deltachain/tx/v1`, the chain id and the
    /// canonical bytes of `tx`.
    pub signature: Signature,
}

impl SignedTransaction {
    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_TX_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode(bytes, MAX_TX_BYTES, "transaction")
    }

    /// `sha256` of the canonical bytes.
    pub fn hash(&self) -> Hash {
        crypto::sha256(&self.encode())
    }

    /// Checks everything that needs no ledger state except the signature:
    /// chain id, size and fields. Cheap; run it before signature checks.
    pub fn check_stateless(&self, chain_id: &str, encoded_len: usize) -> Result<(), TxError> {
        if self.tx.chain_id != chain_id {
            return Err(TxError::WrongChain {
                got: self.tx.chain_id.chars().take(64).collect(),
                expected: chain_id.to_string(),
            });
        }
        if encoded_len > MAX_TX_BYTES {
            return Err(TxError::TooLarge(encoded_len));
        }
        if self.tx.nonce == 0 {
            return Err(ValidationError::new("nonce", "nonces start at 1").into());
        }
        self.tx.payload.validate()?;
        Ok(())
    }

    /// The body the signature covers.
    pub fn signed_body(&self) -> Vec<u8> {
        codec::encode(&self.tx)
    }

    /// Verifies the signature alone.
    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        crypto::verify(
            &self.tx.sender,
            Domain::Tx,
            &self.tx.chain_id,
            &self.signed_body(),
            &self.signature,
        )
    }

    /// Verifies many transactions' signatures with batch verification.
    pub fn verify_signatures(txs: &[&SignedTransaction]) -> Vec<Result<(), SignatureError>> {
        let bodies: Vec<Vec<u8>> = txs.iter().map(|t| t.signed_body()).collect();
        let items: Vec<BatchItem> = txs
            .iter()
            .zip(&bodies)
            .map(|(t, body)| BatchItem {
                key: &t.tx.sender,
                domain: Domain::Tx,
                chain_id: &t.tx.chain_id,
                body,
                signature: &t.signature,
            })
            .collect();
        crypto::verify_batch(&items)
    }
}

/// Outcome of executing a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The ledger applied it.
    Applied,
    /// A business rule refused it; the reason says which.
    Rejected,
}

/// The committed result of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction.
    pub tx_hash: Hash,
    /// Applied or rejected.
    pub outcome: Outcome,
    /// Why it was rejected, in words a bank clerk can act on.
    pub reason: Option<String>,
}

impl Receipt {
    /// An `applied` receipt.
    pub fn applied(tx_hash: Hash) -> Receipt {
        Receipt {
            tx_hash,
            outcome: Outcome::Applied,
            reason: None,
        }
    }

    /// A `rejected` receipt.
    pub fn rejected(tx_hash: Hash, reason: impl Into<String>) -> Receipt {
        Receipt {
            tx_hash,
            outcome: Outcome::Rejected,
            reason: Some(reason.into()),
        }
    }

    /// Hash of the canonical encoding: the leaf of `results_root`.
    pub fn hash(&self) -> Hash {
        crypto::sha256(&codec::encode(self))
    }
}

/// Block header. Its hash is the block's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Network.
    pub chain_id: String,
    /// Height, from 1.
    pub height: Height,
    /// Proposer's clock, milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Hash of the block at `height - 1`, or zero for height 1.
    pub prev_hash: Hash,
    /// RFC 6962 root over the transaction hashes.
    pub tx_root: Hash,
    /// RFC 6962 root over the receipt hashes, so an outcome can be proven.
    pub results_root: Hash,
    /// Ledger state after this block.
    pub state_root: Hash,
    /// Hash of `last_commit` (zero when absent), binding it to the block.
    pub last_commit_hash: Hash,
    /// Hash of the validator set.
    pub validators_hash: Hash,
    /// Proposer's key.
    pub proposer: PublicKey,
    /// Number of transactions.
    pub tx_count: u32,
}

impl BlockHeader {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        crypto::sha256(&codec::encode(self))
    }
}

/// A block: header, transactions and the commit certificate of its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Header.
    pub header: BlockHeader,
    /// Transactions in execution order. Shared: a block passes through
    /// consensus, validation, commit and re-broadcast, and cloning it must
    /// not copy thousands of transactions each time. Encodes exactly like a
    /// `Vec`.
    pub txs: Arc<Vec<SignedTransaction>>,
    /// Precommits for the previous block (absent at height 1).
    pub last_commit: Option<CommitCertificate>,
}

impl Block {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most `limit` bytes (at most [`MAX_BLOCK_BYTES`]).
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        codec::decode(bytes, limit.min(MAX_BLOCK_BYTES), "block")
    }

    /// Transaction hashes in order.
    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.txs.iter().map(|t| t.hash()).collect()
    }

    /// Checks the parts of a block that need no state: the header's
    /// `tx_root`, `tx_count` and `last_commit_hash` match the body.
    pub fn check_body(&self, tx_hashes: &[Hash]) -> Result<(), String> {
        if self.header.tx_count as usize != self.txs.len() {
            return Err(format!(
                "header says {} transactions, body has {}",
                self.header.tx_count,
                self.txs.len()
            ));
        }
        if merkle::root(tx_hashes) != self.header.tx_root {
            return Err("tx_root does not match the transactions".into());
        }
        if commit_hash(self.last_commit.as_ref()) != self.header.last_commit_hash {
            return Err("last_commit_hash does not match last_commit".into());
        }
        Ok(())
    }
}

/// Hash of an optional commit certificate, as stored in the next header.
pub fn commit_hash(cert: Option<&CommitCertificate>) -> Hash {
    match cert {
        None => Hash::ZERO,
        Some(c) => crypto::sha256(&codec::encode(c)),
    }
}

/// Prevote or precommit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step.
    Precommit,
}

/// A validator's vote for a block (or nil) at one height and round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Step.
    pub kind: VoteKind,
    /// The block hash, or `None` for nil.
    pub block: Option<Hash>,
    /// Who votes.
    pub validator: ValidatorIndex,
}

/// A vote with its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// Signature over `deltachain/vote/v1`, the chain id and the vote bytes.
    pub signature: Signature,
}

impl Vote {
    /// Signs the vote.
    pub fn sign(self, key: &Keypair, chain_id: &str) -> SignedVote {
        SignedVote {
            signature: key.sign(Domain::Vote, chain_id, &codec::encode(&self)),
            vote: self,
        }
    }
}

impl SignedVote {
    /// Verifies the signature against the voter's key.
    pub fn verify(&self, chain_id: &str, key: &PublicKey) -> Result<(), SignatureError> {
        crypto::verify(
            key,
            Domain::Vote,
            chain_id,
            &codec::encode(&self.vote),
            &self.signature,
        )
    }
}

/// A proposal: the proposer's signed claim that `block_hash` is its value for
/// (height, round). The block travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// `validRound` of the paper: the round of the polka this value had, if any.
    pub pol_round: Option<Round>,
    /// Hash of the proposed block.
    pub block_hash: Hash,
    /// Proposer.
    pub proposer: ValidatorIndex,
}

/// A proposal with its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// Signature over `deltachain/proposal/v1`, the chain id and the proposal bytes.
    pub signature: Signature,
}

impl Proposal {
    /// Signs the proposal.
    pub fn sign(self, key: &Keypair, chain_id: &str) -> SignedProposal {
        SignedProposal {
            signature: key.sign(Domain::Proposal, chain_id, &codec::encode(&self)),
            proposal: self,
        }
    }
}

impl SignedProposal {
    /// Verifies the signature against the proposer's key.
    pub fn verify(&self, chain_id: &str, key: &PublicKey) -> Result<(), SignatureError> {
        crypto::verify(
            key,
            Domain::Proposal,
            chain_id,
            &codec::encode(&self.proposal),
            &self.signature,
        )
    }
}

/// One precommit signature inside a commit certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSig {
    /// The validator.
    pub validator: ValidatorIndex,
    /// Its precommit signature for (height, round, block_hash).
    pub signature: Signature,
}

/// Proof that a quorum of validators precommitted a block: what makes a
/// block final, and what a client checks to trust an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// Height of the block.
    pub height: Height,
    /// Round in which it was decided.
    pub round: Round,
    /// The block.
    pub block_hash: Hash,
    /// Precommit signatures, strictly increasing by validator index.
    pub signatures: Vec<CommitSig>,
}

/// Why a commit certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Wrong height or block.
    #[error("certificate is for height {got_height} block {got_block}, expected height {height} block {block}")]
    WrongBlock {
        /// Expected height.
        height: Height,
        /// Expected block.
        block: Hash,
        /// Certificate's height.
        got_height: Height,
        /// Certificate's block.
        got_block: Hash,
    },
    /// Not enough distinct signatures.
    #[error("certificate has {got} signatures, a quorum of {n} validators is {quorum}")]
    NoQuorum {
        /// Signatures present.
        got: usize,
        /// Quorum needed.
        quorum: usize,
        /// Validator count.
        n: usize,
    },
    /// Indices not strictly increasing or out of range.
    #[error("certificate lists validator {0} out of order, twice or out of range")]
    BadIndex(ValidatorIndex),
    /// A signature does not verify.
    #[error("precommit signature of validator {0} does not verify")]
    BadSignature(ValidatorIndex),
}

/// ⌊2n/3⌋ + 1: the smallest number of validators that is more than two
/// thirds of `n`.
pub fn quorum(n: usize) -> usize {
    2 * n / 3 + 1
}

/// f + 1 = ⌊n/3⌋ + 1: more than one third of `n` (the round-skip threshold).
pub fn one_third_plus(n: usize) -> usize {
    n / 3 + 1
}

impl CommitCertificate {
    /// The precommit that signature `sig` signs.
    pub fn vote_of(&self, sig: &CommitSig) -> Vote {
        Vote {
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block: Some(self.block_hash),
            validator: sig.validator,
        }
    }

    /// Checks that the certificate commits `block` at `height` with a quorum
    /// of valid precommit signatures of `validators`.
    pub fn verify(
        &self,
        chain_id: &str,
        height: Height,
        block: &Hash,
        validators: &[PublicKey],
    ) -> Result<(), CertError> {
        if self.height != height || self.block_hash != *block {
            return Err(CertError::WrongBlock {
                height,
                block: *block,
                got_height: self.height,
                got_block: self.block_hash,
            });
        }
        let need = quorum(validators.len());
        if self.signatures.len() < need {
            return Err(CertError::NoQuorum {
                got: self.signatures.len(),
                quorum: need,
                n: validators.len(),
            });
        }
        let mut last: Option<ValidatorIndex> = None;
        for s in &self.signatures {
            if last.is_some_and(|l| s.validator <= l) || s.validator as usize >= validators.len() {
                return Err(CertError::BadIndex(s.validator));
            }
            last = Some(s.validator);
        }
        let bodies: Vec<Vec<u8>> = self
            .signatures
            .iter()
            .map(|s| codec::encode(&self.vote_of(s)))
            .collect();
        let items: Vec<BatchItem> = self
            .signatures
            .iter()
            .zip(&bodies)
            .map(|(s, body)| BatchItem {
                key: &validators[s.validator as usize],
                domain: Domain::Vote,
                chain_id,
                body,
                signature: &s.signature,
            })
            .collect();
        for (s, r) in self.signatures.iter().zip(crypto::verify_batch(&items)) {
            if r.is_err() {
                return Err(CertError::BadSignature(s.validator));
            }
        }
        Ok(())
    }
}
