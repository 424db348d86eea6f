//! Deterministic execution of blocks.
//!
//! [`execute_block`] runs a block's transactions in order against a state
//! view and returns one [`Receipt`] per transaction, the sorted write set and
//! the new state root. It checks membership, roles and nonces, and every
//! business rule of the credit chain; above all that an IP right carries at
//! most one active pledge, the double-financing guard the chain exists for.
//!
//! A broken business rule is not an error: the transaction is committed with
//! a `rejected` receipt whose reason a bank clerk can act on. What *is* an
//! error ([`BlockError::Invalid`]) is a block no honest proposer builds: a
//! transaction with the wrong nonce. Validators prevote nil for such blocks.
//!
//! No clock, no randomness, no hash-map iteration: time comes from the block
//! header and state is a sorted map, so every node computes the same root.

mod access;
pub mod registry;
mod state;
pub mod tree;

pub use access::AuditRecord;
pub use deltachain_protocol::state::{
    ConsentRecord, Correction, CreditCommitment, IpRecord, Member, Pledge,
};
pub use registry::{
    DisputeMark, ObjectionAnswer, ObjectionRecord, PublicEntry, PublicLocation, ReceivableEvent,
    ReceivableEventKind,
};
pub use state::{EmptyState, Overlay, StateFault, StateRead, WriteSet};
pub use tree::{LedgerState, MemoryState, TreeBatch, TreeStore};

use deltachain_protocol::{
    state as committed, Date, Genesis, Hash, Payload, PublicKey, Receipt, Role, SignedTransaction,
};
use serde::{Deserialize, Serialize};

/// State key layout. All keys are ASCII-prefixed so a prefix scan in storage
/// lists one enterprise's records or one IP's history in order.
pub mod keys {
    use deltachain_protocol::PublicKey;

    pub use deltachain_protocol::state::keys::{
        consent, credit_commitment, enterprise_key, ip, member, receivable, uscc_exception,
        validator,
    };
    /// Prefix of the admitted pilot-era codes.
    pub const USCC_EXCEPTIONS: &[u8] = b"ux/";
    /// `ri/<debtor>/<invoice>`: the live receivable an invoice backs.
    pub fn invoice(debtor: &str, invoice: &str) -> Vec<u8> {
        format!("ri/{debtor}/{invoice}").into_bytes()
    }
    /// `re/<uscc>/<c|d|h>/<id>`: the enterprise is creditor, debtor or
    /// holder of a receivable.
    pub fn receivable_party(uscc: &str, role: u8, id: &str) -> Vec<u8> {
        let mut k = receivable_parties(uscc, role);
        k.extend_from_slice(id.as_bytes());
        k
    }
    /// Prefix of [`receivable_party`] for one enterprise and role.
    pub fn receivable_parties(uscc: &str, role: u8) -> Vec<u8> {
        let mut k = format!("re/{uscc}/").into_bytes();
        k.push(role);
        k.push(b'/');
        k
    }
    /// `rvh/<id>/<seq>`: one event of a receivable's history.
    pub fn receivable_event(id: &str, seq: u32) -> Vec<u8> {
        let mut k = receivable_events(id);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
    /// Prefix of a receivable's history.
    pub fn receivable_events(id: &str) -> Vec<u8> {
        format!("rvh/{id}/").into_bytes()
    }
    /// `p/<uscc>/<seq>`: one public record of an enterprise.
    pub fn public(uscc: &str, seq: u64) -> Vec<u8> {
        let mut k = publics(uscc);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
    /// Prefix of an enterprise's public records.
    pub fn publics(uscc: &str) -> Vec<u8> {
        format!("p/{uscc}/").into_bytes()
    }
    /// `pc/<uscc>`: how many public records an enterprise has.
    pub fn public_count(uscc: &str) -> Vec<u8> {
        format!("pc/{uscc}").into_bytes()
    }
    /// `pl/<tx hash>`: the public record a transaction reported.
    pub fn public_location(tx: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = b"pl/".to_vec();
        k.extend_from_slice(&tx.0);
        k
    }
    /// `pi/<sha256 of (uscc, provider, category, period, source)>`: the
    /// identity of a public record, so a provider's retry or re-import is
    /// refused as a duplicate.
    pub fn public_identity(
        uscc: &str,
        provider: &PublicKey,
        category: deltachain_protocol::PublicCategory,
        period: &str,
        source: &str,
    ) -> Vec<u8> {
        let digest = deltachain_protocol::crypto::sha256(&deltachain_protocol::codec::encode(&(
            uscc, provider, category, period, source,
        )));
        let mut k = b"pi/".to_vec();
        k.extend_from_slice(&digest.0);
        k
    }
    /// `ob/<objection tx hash>`: an objection.
    pub fn objection(id: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = b"ob/".to_vec();
        k.extend_from_slice(&id.0);
        k
    }
    /// `od/<deadline ms BE><id>`: an objection awaiting its answer, in
    /// deadline order, so the overdue ones are a prefix scan.
    pub fn open_objection(deadline_ms: u64, id: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = OPEN_OBJECTIONS.to_vec();
        k.extend_from_slice(&deadline_ms.to_be_bytes());
        k.extend_from_slice(&id.0);
        k
    }
    /// Prefix of [`open_objection`].
    pub const OPEN_OBJECTIONS: &[u8] = b"od/";
    /// `oe/<uscc>/<id>`: an objection by this enterprise.
    pub fn enterprise_objection(uscc: &str, id: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = enterprise_objections(uscc);
        k.extend_from_slice(&id.0);
        k
    }
    /// Prefix of an enterprise's objections.
    pub fn enterprise_objections(uscc: &str) -> Vec<u8> {
        format!("oe/{uscc}/").into_bytes()
    }
    /// `oo/t<tx hash>`: the dispute mark of a credit or public record.
    pub fn dispute_of_record(tx: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = b"oo/t".to_vec();
        k.extend_from_slice(&tx.0);
        k
    }
    /// `oo/r<id>`: the dispute mark of a receivable.
    pub fn dispute_of_receivable(id: &str) -> Vec<u8> {
        format!("oo/r{id}").into_bytes()
    }
    /// `mn/<name>`: member name to key, for uniqueness.
    pub fn member_name(name: &str) -> Vec<u8> {
        format!("mn/{name}").into_bytes()
    }
    /// Prefix of all members.
    pub const MEMBERS: &[u8] = b"m/";
    /// `g`: the genesis hash, so that two chains never share a root.
    pub const GENESIS: &[u8] = b"g";
    /// `n/<key hex>`: last nonce a sender used.
    pub fn nonce(key: &PublicKey) -> Vec<u8> {
        format!("n/{}", key.to_hex()).into_bytes()
    }
    /// `iph/<id>/<seq>`: one event of an IP right's history.
    pub fn ip_event(id: &str, seq: u32) -> Vec<u8> {
        let mut k = ip_events(id);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
    /// Prefix of an IP right's history.
    pub fn ip_events(id: &str) -> Vec<u8> {
        format!("iph/{id}/").into_bytes()
    }
    /// `c/<uscc>/<seq>`: one credit record of an enterprise.
    pub fn credit(uscc: &str, seq: u64) -> Vec<u8> {
        let mut k = credits(uscc);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
    /// Prefix of an enterprise's credit records.
    pub fn credits(uscc: &str) -> Vec<u8> {
        format!("c/{uscc}/").into_bytes()
    }
    /// `t/<tx hash, 32 bytes>`: where a committed transaction is, and the
    /// credit record it created. Binary, because there is one per
    /// transaction and it is the only random-order key a block writes.
    pub fn tx(tx: &deltachain_protocol::Hash) -> Vec<u8> {
        let mut k = Vec::with_capacity(34);
        k.extend_from_slice(b"t/");
        k.extend_from_slice(&tx.0);
        k
    }
    /// `cr/<sha256 of (uscc, reporter, kind, date, reference)>`: the
    /// identity of a credit record, pointing at the transaction that
    /// reported it. A second report with the same identity is refused, so a
    /// clerk's retry never counts a loan twice. Hashed, because the
    /// readable form is over 100 bytes with a long shared prefix, and
    /// comparing such keys cost a measurable share of block execution.
    pub fn credit_identity(
        uscc: &str,
        reporter: &PublicKey,
        kind: deltachain_protocol::CreditKind,
        date: deltachain_protocol::Date,
        reference: &str,
    ) -> Vec<u8> {
        let digest = deltachain_protocol::crypto::sha256(&deltachain_protocol::codec::encode(&(
            uscc, reporter, kind, date, reference,
        )));
        let mut k = Vec::with_capacity(35);
        k.extend_from_slice(b"cr/");
        k.extend_from_slice(&digest.0);
        k
    }
    /// `eo/<uscc>/<ip id>`: the enterprise owns this IP.
    pub fn owned_ip(uscc: &str, ip_id: &str) -> Vec<u8> {
        format!("eo/{uscc}/{ip_id}").into_bytes()
    }
    /// Prefix of the IP an enterprise owns.
    pub fn owned_ips(uscc: &str) -> Vec<u8> {
        format!("eo/{uscc}/").into_bytes()
    }
    /// `ekr/<key hex>`: which enterprise a key belongs to.
    pub fn enterprise_of(key: &PublicKey) -> Vec<u8> {
        format!("ekr/{}", key.to_hex()).into_bytes()
    }
    /// `cg/<uscc>/<grantee hex>/<consent id>`: index of the consents an
    /// enterprise gave one member.
    pub fn consent_grant(uscc: &str, grantee: &PublicKey, id: &str) -> Vec<u8> {
        let mut k = consent_grants(uscc, grantee);
        k.extend_from_slice(id.as_bytes());
        k
    }
    /// Prefix of the consents an enterprise gave one member.
    pub fn consent_grants(uscc: &str, grantee: &PublicKey) -> Vec<u8> {
        format!("cg/{uscc}/{}/", grantee.to_hex()).into_bytes()
    }
    /// `as/<node key hex>`: the next audit sequence number expected from a
    /// serving node.
    pub fn audit_next(node: &PublicKey) -> Vec<u8> {
        format!("as/{}", node.to_hex()).into_bytes()
    }
    /// `qn`: how many audit entries the chain holds.
    pub const AUDIT_COUNT: &[u8] = b"qn";
    /// `qa/<n>`: the n-th audit entry of the chain.
    pub fn audit(n: u64) -> Vec<u8> {
        let mut k = b"qa/".to_vec();
        k.extend_from_slice(&n.to_be_bytes());
        k
    }
    /// `qe/<uscc>/<n>`: audit entry n concerns this enterprise.
    pub fn audit_by_enterprise(uscc: &str, n: u64) -> Vec<u8> {
        let mut k = audits_by_enterprise(uscc);
        k.extend_from_slice(&n.to_be_bytes());
        k
    }
    /// Prefix of the audit entries about an enterprise.
    pub fn audits_by_enterprise(uscc: &str) -> Vec<u8> {
        format!("qe/{uscc}/").into_bytes()
    }
    /// `qr/<requester hex>/<n>`: audit entry n was a read by this key.
    pub fn audit_by_requester(requester: &PublicKey, n: u64) -> Vec<u8> {
        let mut k = audits_by_requester(requester);
        k.extend_from_slice(&n.to_be_bytes());
        k
    }
    /// Prefix of the audit entries of one requester.
    pub fn audits_by_requester(requester: &PublicKey) -> Vec<u8> {
        format!("qr/{}/", requester.to_hex()).into_bytes()
    }
}

/// What happened to an IP right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpEventKind {
    /// Registered to an owner.
    Registered {
        /// Owner's USCC.
        owner: String,
    },
    /// Ownership moved.
    Transferred {
        /// Previous owner.
        from: String,
        /// New owner.
        to: String,
    },
    /// Pledged to a bank.
    Pledged {
        /// Secured amount in fen.
        amount_fen: u64,
        /// Contract.
        contract: String,
        /// Last day.
        until: Date,
    },
    /// Pledge released.
    Released,
}

/// One entry of an IP right's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpEvent {
    /// Height of the block.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// Who sent it.
    pub sender: PublicKey,
    /// What happened.
    pub event: IpEventKind,
}

/// Most corrections one credit record may carry.
pub const MAX_CORRECTIONS: usize = 16;

/// How many days an event date may lie after the block's (UTC) date. One
/// day covers the eight hours between Beijing and UTC and a clerk entering
/// today's date just after midnight; anything later is a typing mistake.
pub const EVENT_DATE_TOLERANCE_DAYS: i64 = 1;

/// Why an event date is refused, if it lies too far after the block date.
fn future_date(what: &str, date: Date, today: Date) -> Option<String> {
    (date.days_since_epoch() > today.days_since_epoch() + EVENT_DATE_TOLERANCE_DAYS).then(|| {
        format!(
            "{what} {date} is after the block date {today}; events cannot be reported before they happen (one day of tolerance for time zones)"
        )
    })
}

/// A credit record in the state: where its transaction is, who reported it
/// and its corrections. The record itself is read from the transaction in
/// storage, so each record is on disk once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditEntry {
    /// Height of the reporting transaction's block.
    pub height: u64,
    /// Its index in the block.
    pub index: u32,
    /// The reporting bank (the one that may correct it).
    pub reporter: PublicKey,
    /// Block time.
    pub time_ms: u64,
    /// [`deltachain_protocol::state::credit_content`] of the record, so a
    /// correction can re-root the enterprise's list without reading the
    /// transactions.
    pub content: Hash,
    /// Corrections, oldest first.
    pub corrections: Vec<Correction>,
}

impl CreditEntry {
    /// True once the reporter withdrew it.
    pub fn withdrawn(&self) -> bool {
        self.corrections.iter().any(|c| c.withdraw)
    }
}

/// Where a credit record lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLocation {
    /// Enterprise.
    pub uscc: String,
    /// Sequence number.
    pub seq: u64,
}

/// Where a committed transaction is (state key [`keys::tx`]). Every
/// transaction in a block gets one, whatever its receipt says, so a hash
/// can be looked up and the location is covered by the state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxEntry {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// The credit record it created, if it was an applied credit report.
    pub credit: Option<CreditLocation>,
}

/// The block being executed: time and height come from its header, never
/// from a clock.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext {
    /// Height.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// How long a reporter has to answer an objection (the genesis rule).
    pub objection_answer_ms: u64,
}

impl BlockContext {
    /// The context of block `height` at `time_ms` under `genesis`'s rules.
    pub fn new(genesis: &Genesis, height: u64, time_ms: u64) -> BlockContext {
        BlockContext {
            height,
            time_ms,
            objection_answer_ms: genesis.rules.objection_answer_secs.saturating_mul(1000),
        }
    }
}

/// The result of executing a block.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// Sorted writes.
    pub writes: WriteSet,
    /// The state tree's new nodes.
    pub tree: TreeBatch,
    /// Root after the block.
    pub state_root: Hash,
}

/// Why a block cannot be executed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block breaks a rule honest proposers keep (nonces).
    #[error("invalid block: {0}")]
    Invalid(String),
    /// Reading state failed.
    #[error(transparent)]
    Fault(#[from] StateFault),
}

/// The genesis state (founding members, validators, enterprises): its
/// writes, its tree (version 0) and its root.
pub fn genesis_state(genesis: &Genesis) -> (WriteSet, TreeBatch, Hash) {
    let mut o = Overlay::new(&EmptyState);
    for m in &genesis.members {
        o.put(
            keys::member(&m.public_key),
            &Member {
                name: m.name.clone(),
                public_key: m.public_key,
                roles: m.roles,
                city: m.city.clone(),
                categories: m.categories,
            },
        );
        o.put(keys::member_name(&m.name), &m.public_key);
    }
    for v in &genesis.validators {
        o.put(keys::validator(&v.public_key), &());
    }
    for e in &genesis.enterprises {
        o.put(keys::enterprise_key(&e.uscc), &e.public_key);
        o.put(keys::enterprise_of(&e.public_key), &e.uscc);
    }
    // The genesis hash seeds the digest of uncommitted writes, so two
    // chains never share a root.
    o.put(keys::GENESIS.to_vec(), &genesis.hash());
    let mut writes = o.into_writes();
    let (root, tree) = tree::commit_writes(&MemoryState::default(), 0, &mut writes)
        .expect("an empty tree cannot fail to read");
    (writes, tree, root)
}

/// Executes `txs` in order on top of `base`, whose root is `prev_root`.
///
/// The transactions must already be decoded, signature-checked and
/// stateless-checked (the mempool and block validation do that, with batch
/// verification).
pub fn execute_block<S: LedgerState + ?Sized>(
    base: &S,
    ctx: BlockContext,
    txs: &[SignedTransaction],
    tx_hashes: &[Hash],
) -> Result<BlockOutcome, BlockError> {
    assert_eq!(txs.len(), tx_hashes.len(), "one hash per transaction");
    let mut o = Overlay::new(base);
    let mut receipts = Vec::with_capacity(txs.len());
    for (index, (tx, hash)) in txs.iter().zip(tx_hashes).enumerate() {
        let last: u64 = o.get(&keys::nonce(&tx.tx.sender))?.unwrap_or(0);
        if tx.tx.nonce != last + 1 {
            return Err(BlockError::Invalid(format!(
                "transaction {} from {} has nonce {}, expected {}",
                hash.short(),
                tx.tx.sender.short_hex(),
                tx.tx.nonce,
                last + 1
            )));
        }
        o.put(keys::nonce(&tx.tx.sender), &tx.tx.nonce);
        let index = index as u32;
        let (receipt, credit) = match apply(&mut o, ctx, index, tx, hash)? {
            Ok(credit) => (Receipt::applied(*hash), credit),
            Err(reason) => (Receipt::rejected(*hash, reason), None),
        };
        // A replayed transaction cannot get here: its nonce is used.
        o.put(
            keys::tx(hash),
            &TxEntry {
                height: ctx.height,
                index,
                credit,
            },
        );
        receipts.push(receipt);
    }
    let mut writes = o.into_writes();
    let (state_root, tree) = tree::commit_writes(base, ctx.height, &mut writes)?;
    Ok(BlockOutcome {
        receipts,
        writes,
        tree,
        state_root,
    })
}

trait ShortHex {
    fn short_hex(&self) -> String;
}

impl ShortHex for PublicKey {
    fn short_hex(&self) -> String {
        self.to_hex()[..8].to_string()
    }
}

/// `Ok` carries the credit record a credit report created.
type Rule = Result<Option<CreditLocation>, String>;

fn member_name<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    key: &PublicKey,
) -> Result<String, StateFault> {
    Ok(o.get::<Member>(&keys::member(key))?
        .map(|m| m.name)
        .unwrap_or_else(|| format!("former member {}", key.short_hex())))
}

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

/// Applies one transaction: checks first, writes only when every check passed.
fn apply<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    index: u32,
    stx: &SignedTransaction,
    hash: &Hash,
) -> Result<Rule, StateFault> {
    let sender = stx.tx.sender;
    let member = o.get::<Member>(&keys::member(&sender))?;
    // Consents and audit batches have senders of their own kind: an
    // enterprise may submit its own consents and revocations, and only a
    // validator may record the reads it served.
    if let Some(reason) = registry::codes_admitted(o, stx)? {
        return Ok(Err(reason));
    }
    match &stx.tx.payload {
        Payload::ConsentGrant(c) => {
            return access::consent_grant(o, ctx, stx, hash, c, member.as_ref())
        }
        Payload::Objection(ob) => {
            return registry::objection(o, ctx, stx, hash, ob, member.as_ref())
        }
        Payload::ReceivableSplit(s) => {
            return registry::split(o, ctx, sender, member.as_ref(), hash, s)
        }
        Payload::ReceivableTransfer(t) => {
            return registry::transfer(o, ctx, sender, member.as_ref(), hash, t)
        }
        Payload::ConsentRevoke(r) => {
            return access::consent_revoke(o, ctx, stx, hash, r, member.as_ref())
        }
        Payload::AuditBatch(b) => return access::audit_batch(o, ctx, stx, hash, b),
        _ => {}
    }
    let Some(member) = member else {
        return Ok(Err(format!(
            "sender {} is not a member of this chain",
            sender.to_hex()
        )));
    };
    let needed: &[Role] = match &stx.tx.payload {
        Payload::Credit(_) => &[Role::CreditReporter],
        Payload::CreditCorrection(_) => &[Role::CreditReporter, Role::DataProvider],
        Payload::IpRegister(_) | Payload::IpTransfer(_) => &[Role::IpRegistrar],
        Payload::IpPledge(_) | Payload::IpRelease(_) => &[Role::Lender],
        Payload::AddMember(_)
        | Payload::RemoveMember(_)
        | Payload::SetRoles(_)
        | Payload::UsccException(_) => &[Role::Regulator],
        Payload::EnterpriseKey(_) => &[Role::EnterpriseRegistrar],
        Payload::ReceivableRegister(_) | Payload::ReceivableSettle(_) => {
            &[Role::ReceivablesRegistrar]
        }
        Payload::ReceivableFinance(_) | Payload::ReceivableRelease(_) => &[Role::Lender],
        Payload::PublicRecord(_) => &[Role::DataProvider],
        Payload::ObjectionResolution(_) => &[
            Role::CreditReporter,
            Role::DataProvider,
            Role::ReceivablesRegistrar,
        ],
        // Dispatched above; listed so that a new payload kind must be
        // given a role here.
        Payload::ConsentGrant(_)
        | Payload::ConsentRevoke(_)
        | Payload::AuditBatch(_)
        | Payload::Objection(_)
        | Payload::ReceivableSplit(_)
        | Payload::ReceivableTransfer(_) => &[Role::Regulator],
    };
    if !needed.iter().any(|r| member.roles.has(*r)) {
        let names: Vec<&str> = needed.iter().map(|r| role_name(*r)).collect();
        return Ok(Err(format!(
            "{} may not submit {}: it needs the {} role and has [{}]",
            member.name,
            stx.tx.payload.kind_name(),
            names.join(" or "),
            member.roles
        )));
    }
    let today = Date::from_unix_ms(ctx.time_ms);
    match &stx.tx.payload {
        Payload::Credit(c) => {
            if let Some(reason) = future_date("credit event date", c.date, today) {
                return Ok(Err(reason));
            }
            let identity =
                keys::credit_identity(&c.enterprise, &sender, c.kind, c.date, &c.reference);
            if let Some(first) = o.get::<Hash>(&identity)? {
                if !credit_withdrawn(o, &first)? {
                    return Ok(Err(format!(
                        "duplicate: {} already reported this {} record (reference {}, date {}) for {} in transaction {first}; submit a credit_correction to change it",
                        member.name, c.kind, c.reference, c.date, c.enterprise
                    )));
                }
            }
            o.put(identity, hash);
            let mut tally: CreditCommitment = o
                .get(&keys::credit_commitment(&c.enterprise))?
                .unwrap_or_default();
            let count = tally.count;
            let content = committed::credit_content(hash, &sender, ctx.height, ctx.time_ms, c);
            o.put(
                keys::credit(&c.enterprise, count),
                &CreditEntry {
                    height: ctx.height,
                    index,
                    reporter: sender,
                    time_ms: ctx.time_ms,
                    content,
                    corrections: Vec::new(),
                },
            );
            tally.push(&committed::credit_digest(&content, &[]));
            o.put(keys::credit_commitment(&c.enterprise), &tally);
            Ok(Ok(Some(CreditLocation {
                uscc: c.enterprise.clone(),
                seq: count,
            })))
        }
        Payload::CreditCorrection(c) => registry::record_correction(o, ctx, &member, hash, c),
        Payload::IpRegister(r) => {
            if let Some(existing) = o.get::<IpRecord>(&keys::ip(&r.ip_id))? {
                return Ok(Err(format!(
                    "IP {} is already registered (owner {}, registered {})",
                    r.ip_id, existing.owner, existing.registered_on
                )));
            }
            if let Some(reason) = future_date("registration date", r.registered_on, today) {
                return Ok(Err(reason));
            }
            o.put(
                keys::ip(&r.ip_id),
                &IpRecord {
                    ip_id: r.ip_id.clone(),
                    kind: r.kind,
                    title: r.title.clone(),
                    owner: r.owner.clone(),
                    registered_on: r.registered_on,
                    registrar: sender,
                    pledge: None,
                    events: 1,
                },
            );
            o.put(keys::owned_ip(&r.owner, &r.ip_id), &());
            o.put(
                keys::ip_event(&r.ip_id, 0),
                &event(
                    ctx,
                    hash,
                    sender,
                    IpEventKind::Registered {
                        owner: r.owner.clone(),
                    },
                ),
            );
            Ok(Ok(None))
        }
        Payload::IpTransfer(t) => {
            let Some(mut ip) = o.get::<IpRecord>(&keys::ip(&t.ip_id))? else {
                return Ok(Err(not_registered(&t.ip_id)));
            };
            if let Some(p) = ip.active_pledge(today) {
                return Ok(Err(format!(
                    "IP {} is pledged to {} until {}; the pledgee must release it before a transfer",
                    t.ip_id,
                    member_name(o, &p.pledgee)?,
                    p.until
                )));
            }
            if ip.owner == t.new_owner {
                return Ok(Err(format!(
                    "IP {} is already owned by {}",
                    t.ip_id, t.new_owner
                )));
            }
            let from = std::mem::replace(&mut ip.owner, t.new_owner.clone());
            o.delete(keys::owned_ip(&from, &t.ip_id));
            o.put(keys::owned_ip(&t.new_owner, &t.ip_id), &());
            push_event(
                o,
                &mut ip,
                event(
                    ctx,
                    hash,
                    sender,
                    IpEventKind::Transferred {
                        from,
                        to: t.new_owner.clone(),
                    },
                ),
            );
            Ok(Ok(None))
        }
        Payload::IpPledge(p) => {
            let Some(mut ip) = o.get::<IpRecord>(&keys::ip(&p.ip_id))? else {
                return Ok(Err(not_registered(&p.ip_id)));
            };
            if let Some(existing) = ip.active_pledge(today) {
                return Ok(Err(format!(
                    "IP {} is already pledged to {} until {} (contract {})",
                    p.ip_id,
                    member_name(o, &existing.pledgee)?,
                    existing.until,
                    existing.contract
                )));
            }
            if p.until < today {
                return Ok(Err(format!(
                    "pledge end date {} is before the block date {today}",
                    p.until
                )));
            }
            ip.pledge = Some(Pledge {
                pledgee: sender,
                amount_fen: p.amount_fen,
                contract: p.contract.clone(),
                until: p.until,
                tx_hash: *hash,
            });
            push_event(
                o,
                &mut ip,
                event(
                    ctx,
                    hash,
                    sender,
                    IpEventKind::Pledged {
                        amount_fen: p.amount_fen,
                        contract: p.contract.clone(),
                        until: p.until,
                    },
                ),
            );
            Ok(Ok(None))
        }
        Payload::IpRelease(r) => {
            let Some(mut ip) = o.get::<IpRecord>(&keys::ip(&r.ip_id))? else {
                return Ok(Err(not_registered(&r.ip_id)));
            };
            let Some(pledge) = ip.pledge.as_ref() else {
                return Ok(Err(format!("IP {} has no pledge to release", r.ip_id)));
            };
            if pledge.pledgee != sender {
                return Ok(Err(format!(
                    "IP {} is pledged to {}; only the pledgee may release it",
                    r.ip_id,
                    member_name(o, &pledge.pledgee)?
                )));
            }
            ip.pledge = None;
            push_event(o, &mut ip, event(ctx, hash, sender, IpEventKind::Released));
            Ok(Ok(None))
        }
        Payload::AddMember(m) => {
            if let Some(existing) = o.get::<Member>(&keys::member(&m.public_key))? {
                return Ok(Err(format!(
                    "key {} already belongs to member {}",
                    m.public_key, existing.name
                )));
            }
            if o.get_raw(&keys::member_name(&m.name))?.is_some() {
                return Ok(Err(format!("a member named {} already exists", m.name)));
            }
            o.put(
                keys::member(&m.public_key),
                &Member {
                    name: m.name.clone(),
                    public_key: m.public_key,
                    roles: m.roles,
                    city: m.city.clone(),
                    categories: m.categories,
                },
            );
            o.put(keys::member_name(&m.name), &m.public_key);
            Ok(Ok(None))
        }
        Payload::RemoveMember(m) => {
            let Some(existing) = o.get::<Member>(&keys::member(&m.public_key))? else {
                return Ok(Err(format!("{} is not a member", m.public_key)));
            };
            if m.public_key == sender {
                return Ok(Err(
                    "a regulator may not remove itself; another regulator must do it".into(),
                ));
            }
            o.delete(keys::member(&m.public_key));
            o.delete(keys::member_name(&existing.name));
            Ok(Ok(None))
        }
        Payload::SetRoles(m) => {
            let Some(mut existing) = o.get::<Member>(&keys::member(&m.public_key))? else {
                return Ok(Err(format!("{} is not a member", m.public_key)));
            };
            if m.public_key == sender && !m.roles.has(Role::Regulator) {
                return Ok(Err(
                    "a regulator may not drop its own regulator role; another regulator must do it"
                        .into(),
                ));
            }
            existing.roles = m.roles;
            existing.categories = m.categories;
            o.put(keys::member(&m.public_key), &existing);
            Ok(Ok(None))
        }
        Payload::EnterpriseKey(k) => access::enterprise_key(o, k),
        Payload::UsccException(e) => registry::uscc_exception(o, ctx, sender, hash, e),
        Payload::ReceivableRegister(r) => registry::register(o, ctx, stx, hash, r),
        Payload::ReceivableFinance(f) => registry::finance(o, ctx, sender, hash, f),
        Payload::ReceivableRelease(r) => registry::release(o, ctx, sender, hash, &r.receivable_id),
        Payload::ReceivableSettle(st) => registry::settle(o, ctx, sender, hash, st),
        Payload::PublicRecord(r) => registry::public_record(o, ctx, index, &member, hash, r),
        Payload::ObjectionResolution(r) => registry::resolution(o, ctx, &member, hash, r),
        Payload::ConsentGrant(_)
        | Payload::ConsentRevoke(_)
        | Payload::AuditBatch(_)
        | Payload::Objection(_)
        | Payload::ReceivableSplit(_)
        | Payload::ReceivableTransfer(_) => {
            Ok(Err("internal: dispatched before the role check".into()))
        }
    }
}

/// True if the credit record reported by transaction `tx` was withdrawn: a
/// withdrawn record's identity may be reported afresh.
fn credit_withdrawn<S: StateRead + ?Sized>(o: &Overlay<S>, tx: &Hash) -> Result<bool, StateFault> {
    let Some(loc) = o.get::<TxEntry>(&keys::tx(tx))?.and_then(|t| t.credit) else {
        return Err(StateFault(format!(
            "credit identity points at transaction {tx}, which recorded no credit record"
        )));
    };
    match o.get::<CreditEntry>(&keys::credit(&loc.uscc, loc.seq))? {
        Some(entry) => Ok(entry.withdrawn()),
        None => Err(StateFault(format!(
            "credit index points at missing record {}/{}",
            loc.uscc, loc.seq
        ))),
    }
}

/// Re-roots an enterprise's record list after record `seq` changed to
/// `changed`. Corrections are rare, so this reads the list rather than keep
/// interior nodes for every record.
fn recount_credits<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    uscc: &str,
    seq: u64,
    changed: &CreditEntry,
) -> Result<(), StateFault> {
    let count = o
        .get::<CreditCommitment>(&keys::credit_commitment(uscc))?
        .map_or(0, |t| t.count);
    let mut tally = CreditCommitment::default();
    for i in 0..count {
        let digest = if i == seq {
            committed::credit_digest(&changed.content, &changed.corrections)
        } else {
            let e = o
                .get::<CreditEntry>(&keys::credit(uscc, i))?
                .ok_or_else(|| StateFault(format!("credit record {uscc}/{i} is missing")))?;
            committed::credit_digest(&e.content, &e.corrections)
        };
        tally.push(&digest);
    }
    o.put(keys::credit_commitment(uscc), &tally);
    Ok(())
}

fn not_registered(ip_id: &str) -> String {
    format!("IP {ip_id} is not registered on this chain; an IP office must register it first")
}

fn event(ctx: BlockContext, hash: &Hash, sender: PublicKey, event: IpEventKind) -> IpEvent {
    IpEvent {
        height: ctx.height,
        time_ms: ctx.time_ms,
        tx_hash: *hash,
        sender,
        event,
    }
}

fn push_event<S: StateRead + ?Sized>(o: &mut Overlay<S>, ip: &mut IpRecord, ev: IpEvent) {
    o.put(keys::ip_event(&ip.ip_id, ip.events), &ev);
    ip.events += 1;
    o.put(keys::ip(&ip.ip_id), &*ip);
}

#[cfg(test)]
mod tests;
