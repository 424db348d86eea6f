//! Ledger rules for receivables, public records, objections and pilot-era
//! code exceptions.
//!
//! The receivable rules keep one invariant above all: on every receivable
//! or part, the amount financed never exceeds what is still owed and not
//! split off, and money split into a part leaves its parent, so no fen of
//! a confirmed payable backs two financings at once.

use deltachain_protocol::registry::ObjectionTarget;
use deltachain_protocol::state::{Financing, Receivable, UsccExceptionRecord};
use deltachain_protocol::{
    Date, Hash, Objection, ObjectionOutcome, ObjectionResolution, PublicKey, PublicRecord,
    ReceivableFinance, ReceivableRegister, ReceivableSettle, ReceivableSplit, ReceivableTransfer,
    Role, Scope, SignedTransaction, UsccException,
};
use serde::{Deserialize, Serialize};

use super::{
    future_date, keys, member_name, recount_credits, BlockContext, ConsentRecord, Correction,
    CreditEntry, Member, Overlay, Rule, StateFault, StateRead, TxEntry, MAX_CORRECTIONS,
};

/// What happened to a receivable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceivableEventKind {
    /// Registered with the debtor's confirmation.
    Registered {
        /// Face amount.
        amount_fen: u64,
    },
    /// Created by a split of its parent.
    SplitFrom {
        /// The parent.
        parent: String,
        /// Amount.
        amount_fen: u64,
    },
    /// Parts split off.
    Split {
        /// (part id, holder, amount) of each part.
        parts: Vec<(String, String, u64)>,
    },
    /// Financed.
    Financed {
        /// Pledge or factoring.
        kind: deltachain_protocol::FinanceKind,
        /// Amount.
        amount_fen: u64,
        /// Contract.
        contract: String,
        /// Last day.
        until: Date,
    },
    /// Financing released.
    Released,
    /// Passed to a new holder.
    Transferred {
        /// Previous holder.
        from: String,
        /// New holder.
        to: String,
    },
    /// Paid, in part or in full.
    Settled {
        /// Amount paid.
        amount_fen: u64,
        /// Day of payment.
        paid_on: Date,
    },
    /// Corrected in answer to an objection.
    Corrected {
        /// The explanation.
        reason: String,
    },
}

/// One entry of a receivable's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivableEvent {
    /// Height.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// Who sent it.
    pub sender: PublicKey,
    /// What happened.
    pub event: ReceivableEventKind,
}

/// A public record in the state; its content is read from the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicEntry {
    /// Height of the reporting block.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
    /// The data provider.
    pub provider: PublicKey,
    /// Block time.
    pub time_ms: u64,
    /// Corrections, oldest first.
    pub corrections: Vec<Correction>,
}

impl PublicEntry {
    /// True once withdrawn.
    pub fn withdrawn(&self) -> bool {
        self.corrections.iter().any(|c| c.withdraw)
    }
}

/// Where a public record lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicLocation {
    /// Enterprise.
    pub uscc: String,
    /// Sequence number.
    pub seq: u64,
}

/// The reporter's answer, once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionAnswer {
    /// Corrected, upheld or unresolved.
    pub outcome: ObjectionOutcome,
    /// The explanation.
    pub explanation: String,
    /// Whether the record was withdrawn.
    pub withdraw: bool,
    /// The answering transaction.
    pub tx_hash: Hash,
    /// Its height.
    pub height: u64,
    /// Its block time.
    pub time_ms: u64,
    /// True if it came after the deadline.
    pub late: bool,
}

/// An objection as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionRecord {
    /// The objection's transaction hash, its id.
    pub id: Hash,
    /// What it is about.
    pub target: ObjectionTarget,
    /// `credit`, `public` or `receivable`.
    pub record_kind: String,
    /// The enterprise objecting.
    pub enterprise: String,
    /// Who filed it (the enterprise's key or a member).
    pub filed_by: PublicKey,
    /// The consent a member filed it under.
    pub consent_id: Option<String>,
    /// Why.
    pub reason: String,
    /// Who must answer: the record's reporter.
    pub reporter: PublicKey,
    /// Height filed.
    pub height: u64,
    /// Block time filed.
    pub time_ms: u64,
    /// Block time by which the answer is due.
    pub deadline_ms: u64,
    /// The answer.
    pub answer: Option<ObjectionAnswer>,
}

impl ObjectionRecord {
    /// True if unanswered after the deadline at block time `now_ms`.
    pub fn overdue(&self, now_ms: u64) -> bool {
        self.answer.is_none() && now_ms > self.deadline_ms
    }
}

/// Marks a record as disputed: while an objection is open, or after it was
/// answered `unresolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeMark {
    /// The latest objection.
    pub objection: Hash,
    /// True while it awaits an answer.
    pub open: bool,
}

/// The state key of a dispute mark for a target.
pub fn dispute_key(target: &ObjectionTarget) -> Vec<u8> {
    match target {
        ObjectionTarget::Record(h) => keys::dispute_of_record(h),
        ObjectionTarget::Receivable(id) => keys::dispute_of_receivable(id),
    }
}

fn fen(v: u64) -> String {
    deltachain_protocol::format_yuan(v)
}

/// The exception check: every code in the payload that fails the GB
/// 32100-2015 check must have been admitted by a regulator.
pub(super) fn codes_admitted<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    stx: &SignedTransaction,
) -> Result<Option<String>, StateFault> {
    for (field, code) in stx.tx.payload.usccs_needing_exception() {
        if o.get_raw(&keys::uscc_exception(code))?.is_none() {
            return Ok(Some(deltachain_protocol::validate::uscc_needs_exception(
                field, code,
            )));
        }
    }
    Ok(None)
}

pub(super) fn uscc_exception<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    hash: &Hash,
    e: &UsccException,
) -> Result<Rule, StateFault> {
    if let Some(r) = o.get::<UsccExceptionRecord>(&keys::uscc_exception(&e.code))? {
        return Ok(Err(format!(
            "USCC {} was already admitted as {} at height {}",
            e.code, r.name, r.height
        )));
    }
    o.put(
        keys::uscc_exception(&e.code),
        &UsccExceptionRecord {
            code: e.code.clone(),
            name: e.name.clone(),
            reason: e.reason.clone(),
            regulator: sender,
            tx_hash: *hash,
            height: ctx.height,
        },
    );
    Ok(Ok(None))
}

/// Unwraps the inner result of a check, or ends the rule with its refusal.
macro_rules! refuse_on {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reason) => return Ok(Err(reason)),
        }
    };
}

fn receivable<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    id: &str,
) -> Result<Result<Receivable, String>, StateFault> {
    Ok(o.get::<Receivable>(&keys::receivable(id))?.ok_or_else(|| {
        format!("receivable {id} is not registered on this chain; a receivables_registrar must register it first")
    }))
}

fn push_event<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    r: &mut Receivable,
    ctx: BlockContext,
    hash: &Hash,
    sender: PublicKey,
    event: ReceivableEventKind,
) {
    o.put(
        keys::receivable_event(&r.id, r.events),
        &ReceivableEvent {
            height: ctx.height,
            time_ms: ctx.time_ms,
            tx_hash: *hash,
            sender,
            event,
        },
    );
    r.events += 1;
    o.put(keys::receivable(&r.id), &*r);
}

/// Lowers the family's live count when a receivable's balance reaches
/// zero; at zero the root's invoice numbers are free again.
fn closed<S: StateRead + ?Sized>(o: &mut Overlay<S>, r: &mut Receivable) -> Result<(), StateFault> {
    let mut root = if r.root == r.id {
        None
    } else {
        Some(
            o.get::<Receivable>(&keys::receivable(&r.root))?
                .ok_or_else(|| StateFault(format!("receivable root {} is missing", r.root)))?,
        )
    };
    let family = root.as_mut().unwrap_or(r);
    family.live_in_family = family.live_in_family.saturating_sub(1);
    if family.live_in_family == 0 {
        for inv in &family.invoices {
            o.delete(keys::invoice(&family.debtor, inv));
        }
    }
    if let Some(root) = root {
        o.put(keys::receivable(&root.id), &root);
    }
    Ok(())
}

pub(super) fn register<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    stx: &SignedTransaction,
    hash: &Hash,
    r: &ReceivableRegister,
) -> Result<Rule, StateFault> {
    let t = &r.terms;
    let today = Date::from_unix_ms(ctx.time_ms);
    if let Some(existing) = o.get::<Receivable>(&keys::receivable(&t.receivable_id))? {
        return Ok(Err(format!(
            "receivable id {} is already used (creditor {}, debtor {})",
            t.receivable_id, existing.creditor, existing.debtor
        )));
    }
    if let Some(reason) = future_date("issue date", t.issued_on, today) {
        return Ok(Err(reason));
    }
    let Some(debtor_key) = o.get::<PublicKey>(&keys::enterprise_key(&t.debtor))? else {
        return Ok(Err(format!(
            "debtor {} has no key on chain to confirm the payable; an enterprise_registrar must bind one first",
            t.debtor
        )));
    };
    if r.verify(&stx.tx.chain_id, &debtor_key).is_err() {
        return Ok(Err(format!(
            "the confirmation is not signed by the key bound to debtor {} over exactly these terms",
            t.debtor
        )));
    }
    for inv in &t.invoices {
        if let Some(other) = o.get::<String>(&keys::invoice(&t.debtor, inv))? {
            return Ok(Err(format!(
                "invoice {inv} of debtor {} already backs live receivable {other}; an invoice backs one receivable at a time",
                t.debtor
            )));
        }
    }
    for inv in &t.invoices {
        o.put(keys::invoice(&t.debtor, inv), &t.receivable_id);
    }
    let mut rec = Receivable {
        id: t.receivable_id.clone(),
        root: t.receivable_id.clone(),
        parent: None,
        creditor: t.creditor.clone(),
        debtor: t.debtor.clone(),
        holder: t.creditor.clone(),
        amount_fen: t.amount_fen,
        currency: t.currency.clone(),
        issued_on: t.issued_on,
        due_on: t.due_on,
        invoices: t.invoices.clone(),
        contract: t.contract.clone(),
        collateral_registration: t.collateral_registration.clone(),
        registrar: stx.tx.sender,
        tx_hash: *hash,
        settled_fen: 0,
        split_fen: 0,
        parts: Vec::new(),
        financing: None,
        live_in_family: 1,
        corrections: Vec::new(),
        events: 0,
    };
    for (party, role) in [(&t.creditor, b'c'), (&t.debtor, b'd'), (&t.creditor, b'h')] {
        o.put(keys::receivable_party(party, role, &rec.id), &());
    }
    push_event(
        o,
        &mut rec,
        ctx,
        hash,
        stx.tx.sender,
        ReceivableEventKind::Registered {
            amount_fen: t.amount_fen,
        },
    );
    Ok(Ok(None))
}

pub(super) fn finance<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    hash: &Hash,
    f: &ReceivableFinance,
) -> Result<Rule, StateFault> {
    let today = Date::from_unix_ms(ctx.time_ms);
    let mut r = refuse_on!(receivable(o, &f.receivable_id)?);
    if let Some(existing) = r.active_financing(today) {
        return Ok(Err(format!(
            "receivable {} is already financed: {} to {} for {} {} until {} (contract {}, transaction {}); a second financing is refused",
            r.id,
            existing.kind,
            member_name(o, &existing.financier)?,
            fen(existing.amount_fen),
            r.currency,
            existing.until,
            existing.contract,
            existing.tx_hash
        )));
    }
    let balance = r.balance();
    if balance == 0 {
        return Ok(Err(format!(
            "receivable {} has nothing left to finance: it is settled or split into parts in full",
            r.id
        )));
    }
    if f.amount_fen > balance {
        return Ok(Err(format!(
            "financing of {} {} exceeds the unsettled balance of receivable {}, {} {}",
            fen(f.amount_fen),
            r.currency,
            r.id,
            fen(balance),
            r.currency
        )));
    }
    if f.until < today {
        return Ok(Err(format!(
            "financing end date {} is before the block date {today}",
            f.until
        )));
    }
    r.financing = Some(Financing {
        kind: f.kind,
        financier: sender,
        amount_fen: f.amount_fen,
        contract: f.contract.clone(),
        until: f.until,
        tx_hash: *hash,
    });
    push_event(
        o,
        &mut r,
        ctx,
        hash,
        sender,
        ReceivableEventKind::Financed {
            kind: f.kind,
            amount_fen: f.amount_fen,
            contract: f.contract.clone(),
            until: f.until,
        },
    );
    Ok(Ok(None))
}

pub(super) fn release<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    hash: &Hash,
    id: &str,
) -> Result<Rule, StateFault> {
    let mut r = refuse_on!(receivable(o, id)?);
    let Some(f) = &r.financing else {
        return Ok(Err(format!("receivable {id} has no financing to release")));
    };
    if f.financier != sender {
        return Ok(Err(format!(
            "receivable {id} is financed by {}; only the financier may release it",
            member_name(o, &f.financier)?
        )));
    }
    r.financing = None;
    push_event(o, &mut r, ctx, hash, sender, ReceivableEventKind::Released);
    Ok(Ok(None))
}

/// The receivable `id`, if `sender` may act as its holder: the holder
/// enterprise's own key, or a receivables registrar acting for it.
fn held<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    id: &str,
    sender: &PublicKey,
    member: Option<&Member>,
    what: &str,
) -> Result<Result<Receivable, String>, StateFault> {
    let r = refuse_on!(receivable(o, id)?);
    if member.is_some_and(|m| m.roles.has(Role::ReceivablesRegistrar)) {
        return Ok(Ok(r));
    }
    let bound = o.get::<PublicKey>(&keys::enterprise_key(&r.holder))?;
    if bound.as_ref() == Some(sender) {
        return Ok(Ok(r));
    }
    Ok(Err(format!(
        "only the holder {} (with its own key) or a receivables_registrar may {what} receivable {}",
        r.holder, r.id
    )))
}

pub(super) fn split<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    member: Option<&Member>,
    hash: &Hash,
    s: &ReceivableSplit,
) -> Result<Rule, StateFault> {
    let today = Date::from_unix_ms(ctx.time_ms);
    let mut r = refuse_on!(held(o, &s.receivable_id, &sender, member, "split")?);
    let total: u64 = s.parts.iter().map(|p| p.amount_fen).sum();
    let financed = r.financed_fen(today);
    let free = r.balance() - financed;
    if total > free {
        return Ok(Err(format!(
            "the parts add up to {} {cur}, but receivable {} has only {} {cur} unfinanced and unsettled (balance {}, financed {}); a financed part cannot be split",
            fen(total),
            r.id,
            fen(free),
            fen(r.balance()),
            fen(financed),
            cur = r.currency
        )));
    }
    for p in &s.parts {
        if o.get_raw(&keys::receivable(&p.part_id))?.is_some() {
            return Ok(Err(format!("receivable id {} is already used", p.part_id)));
        }
    }
    for p in &s.parts {
        let mut part = Receivable {
            id: p.part_id.clone(),
            root: r.root.clone(),
            parent: Some(r.id.clone()),
            creditor: r.creditor.clone(),
            debtor: r.debtor.clone(),
            holder: p.holder.clone(),
            amount_fen: p.amount_fen,
            currency: r.currency.clone(),
            issued_on: r.issued_on,
            due_on: r.due_on,
            invoices: Vec::new(),
            contract: r.contract.clone(),
            collateral_registration: None,
            registrar: r.registrar,
            tx_hash: *hash,
            settled_fen: 0,
            split_fen: 0,
            parts: Vec::new(),
            financing: None,
            live_in_family: 0,
            corrections: Vec::new(),
            events: 0,
        };
        o.put(keys::receivable_party(&part.holder, b'h', &part.id), &());
        o.put(keys::receivable_party(&part.debtor, b'd', &part.id), &());
        push_event(
            o,
            &mut part,
            ctx,
            hash,
            sender,
            ReceivableEventKind::SplitFrom {
                parent: r.id.clone(),
                amount_fen: p.amount_fen,
            },
        );
        r.parts.push(p.part_id.clone());
    }
    r.split_fen += total;
    // The family gains the parts; the parent leaves it if nothing is left.
    let gained = s.parts.len() as u32;
    if r.root == r.id {
        r.live_in_family += gained;
    } else {
        let mut root = o
            .get::<Receivable>(&keys::receivable(&r.root))?
            .ok_or_else(|| StateFault(format!("receivable root {} is missing", r.root)))?;
        root.live_in_family += gained;
        o.put(keys::receivable(&root.id), &root);
    }
    if r.balance() == 0 {
        closed(o, &mut r)?;
    }
    push_event(
        o,
        &mut r,
        ctx,
        hash,
        sender,
        ReceivableEventKind::Split {
            parts: s
                .parts
                .iter()
                .map(|p| (p.part_id.clone(), p.holder.clone(), p.amount_fen))
                .collect(),
        },
    );
    Ok(Ok(None))
}

pub(super) fn transfer<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    member: Option<&Member>,
    hash: &Hash,
    t: &ReceivableTransfer,
) -> Result<Rule, StateFault> {
    let today = Date::from_unix_ms(ctx.time_ms);
    let mut r = refuse_on!(held(o, &t.receivable_id, &sender, member, "transfer")?);
    if let Some(f) = r.active_financing(today) {
        return Ok(Err(format!(
            "receivable {} is financed ({}) by {} until {}; the financier must release it before a transfer",
            r.id,
            f.kind,
            member_name(o, &f.financier)?,
            f.until
        )));
    }
    if r.balance() == 0 {
        return Ok(Err(format!(
            "receivable {} has no balance left to transfer",
            r.id
        )));
    }
    if r.holder == t.new_holder {
        return Ok(Err(format!(
            "receivable {} is already held by {}",
            r.id, r.holder
        )));
    }
    let from = std::mem::replace(&mut r.holder, t.new_holder.clone());
    o.delete(keys::receivable_party(&from, b'h', &r.id));
    o.put(keys::receivable_party(&r.holder, b'h', &r.id), &());
    push_event(
        o,
        &mut r,
        ctx,
        hash,
        sender,
        ReceivableEventKind::Transferred {
            from,
            to: t.new_holder.clone(),
        },
    );
    Ok(Ok(None))
}

pub(super) fn settle<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    sender: PublicKey,
    hash: &Hash,
    s: &ReceivableSettle,
) -> Result<Rule, StateFault> {
    let today = Date::from_unix_ms(ctx.time_ms);
    let mut r = refuse_on!(receivable(o, &s.receivable_id)?);
    if let Some(reason) = future_date("payment date", s.paid_on, today) {
        return Ok(Err(reason));
    }
    let balance = r.balance();
    if s.amount_fen > balance {
        return Ok(Err(format!(
            "payment of {} {cur} exceeds the balance of receivable {}, {} {cur}{}",
            fen(s.amount_fen),
            r.id,
            fen(balance),
            if r.split_fen > 0 {
                "; parts split off are paid on the parts"
            } else {
                ""
            },
            cur = r.currency
        )));
    }
    r.settled_fen += s.amount_fen;
    let left = r.balance();
    if left == 0 {
        r.financing = None;
        closed(o, &mut r)?;
    } else if let Some(f) = r.financing.as_mut() {
        // What is paid is no longer there to secure or to sell.
        f.amount_fen = f.amount_fen.min(left);
    }
    push_event(
        o,
        &mut r,
        ctx,
        hash,
        sender,
        ReceivableEventKind::Settled {
            amount_fen: s.amount_fen,
            paid_on: s.paid_on,
        },
    );
    Ok(Ok(None))
}

pub(super) fn public_record<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    index: u32,
    member: &Member,
    hash: &Hash,
    r: &PublicRecord,
) -> Result<Rule, StateFault> {
    let category = r.data.category();
    if !member.categories.has(category) {
        return Ok(Err(format!(
            "{} may not write {category} records; its categories are [{}]",
            member.name, member.categories
        )));
    }
    let today = Date::from_unix_ms(ctx.time_ms);
    let this_month = format!("{:04}-{:02}", today.year(), today.month());
    if r.period > this_month {
        return Ok(Err(format!(
            "period {} is after the block's month {this_month}",
            r.period
        )));
    }
    let identity = keys::public_identity(
        &r.enterprise,
        &member.public_key,
        category,
        &r.period,
        &r.source,
    );
    if let Some(first) = o.get::<Hash>(&identity)? {
        let withdrawn = match o.get::<PublicLocation>(&keys::public_location(&first))? {
            Some(loc) => o
                .get::<PublicEntry>(&keys::public(&loc.uscc, loc.seq))?
                .is_some_and(|e| e.withdrawn()),
            None => false,
        };
        if !withdrawn {
            return Ok(Err(format!(
                "duplicate: {} already reported this {category} record (period {}, source {}) for {} in transaction {first}; submit a credit_correction to change it",
                member.name, r.period, r.source, r.enterprise
            )));
        }
    }
    o.put(identity, hash);
    let count: u64 = o.get(&keys::public_count(&r.enterprise))?.unwrap_or(0);
    o.put(
        keys::public(&r.enterprise, count),
        &PublicEntry {
            height: ctx.height,
            index,
            provider: member.public_key,
            time_ms: ctx.time_ms,
            corrections: Vec::new(),
        },
    );
    o.put(keys::public_count(&r.enterprise), &(count + 1));
    o.put(
        keys::public_location(hash),
        &PublicLocation {
            uscc: r.enterprise.clone(),
            seq: count,
        },
    );
    Ok(Ok(None))
}

/// A record an objection or correction points at.
pub(super) enum Target {
    Credit {
        uscc: String,
        seq: u64,
        entry: CreditEntry,
    },
    Public {
        uscc: String,
        seq: u64,
        entry: PublicEntry,
    },
    Receivable(Box<Receivable>),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Credit { .. } => "credit",
            Target::Public { .. } => "public",
            Target::Receivable(_) => "receivable",
        }
    }
    fn reporter(&self) -> PublicKey {
        match self {
            Target::Credit { entry, .. } => entry.reporter,
            Target::Public { entry, .. } => entry.provider,
            Target::Receivable(r) => r.registrar,
        }
    }
    /// The enterprises that may object: the subject of a record, or the
    /// parties of a receivable.
    fn parties(&self) -> Vec<&str> {
        match self {
            Target::Credit { uscc, .. } | Target::Public { uscc, .. } => vec![uscc],
            Target::Receivable(r) => vec![&r.creditor, &r.debtor, &r.holder],
        }
    }
    fn scope(&self) -> Scope {
        match self {
            Target::Receivable(_) => Scope::Receivables,
            _ => Scope::Credit,
        }
    }
}

/// The credit or public record a transaction reported, if any.
pub(super) fn record_of<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    tx: &Hash,
) -> Result<Option<Target>, StateFault> {
    if let Some(loc) = o.get::<TxEntry>(&keys::tx(tx))?.and_then(|t| t.credit) {
        let entry = o
            .get::<CreditEntry>(&keys::credit(&loc.uscc, loc.seq))?
            .ok_or_else(|| {
                StateFault(format!("credit record {}/{} is missing", loc.uscc, loc.seq))
            })?;
        return Ok(Some(Target::Credit {
            uscc: loc.uscc,
            seq: loc.seq,
            entry,
        }));
    }
    if let Some(loc) = o.get::<PublicLocation>(&keys::public_location(tx))? {
        let entry = o
            .get::<PublicEntry>(&keys::public(&loc.uscc, loc.seq))?
            .ok_or_else(|| {
                StateFault(format!("public record {}/{} is missing", loc.uscc, loc.seq))
            })?;
        return Ok(Some(Target::Public {
            uscc: loc.uscc,
            seq: loc.seq,
            entry,
        }));
    }
    Ok(None)
}

fn target_of<S: StateRead + ?Sized>(
    o: &Overlay<S>,
    t: &ObjectionTarget,
) -> Result<Result<Target, String>, StateFault> {
    Ok(match t {
        ObjectionTarget::Record(h) => record_of(o, h)?
            .ok_or_else(|| format!("transaction {h} did not record a credit or public record")),
        ObjectionTarget::Receivable(id) => {
            receivable(o, id)?.map(|r| Target::Receivable(Box::new(r)))
        }
    })
}

/// Appends a correction to a credit or public record (the reporter's own
/// correction, or the answer to an objection).
pub(super) fn correct<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    target: Target,
    name: &str,
    correction: Correction,
) -> Result<Result<(), String>, StateFault> {
    match target {
        Target::Credit {
            uscc,
            seq,
            mut entry,
        } => {
            refuse_on!(append(&mut entry.corrections, name, correction));
            o.put(keys::credit(&uscc, seq), &entry);
            recount_credits(o, &uscc, seq, &entry)?;
        }
        Target::Public {
            uscc,
            seq,
            mut entry,
        } => {
            refuse_on!(append(&mut entry.corrections, name, correction));
            o.put(keys::public(&uscc, seq), &entry);
        }
        Target::Receivable(mut r) => {
            if correction.withdraw {
                return Ok(Err(format!(
                    "receivable {} cannot be withdrawn; correct it with its registrar's operations (settle, release) and answer corrected without withdraw",
                    r.id
                )));
            }
            refuse_on!(append(&mut r.corrections, name, correction));
            o.put(keys::receivable(&r.id), &r);
        }
    }
    Ok(Ok(()))
}

/// Appends a correction unless the record is withdrawn or has its fill.
fn append(list: &mut Vec<Correction>, name: &str, c: Correction) -> Result<(), String> {
    if list.iter().any(|c| c.withdraw) {
        return Err(format!("{name} is already withdrawn"));
    }
    if list.len() >= MAX_CORRECTIONS {
        return Err(format!(
            "{name} already has {MAX_CORRECTIONS} corrections; withdraw it and report a new one"
        ));
    }
    list.push(c);
    Ok(())
}

/// `credit_correction` of a credit or public record: only its reporter may.
pub(super) fn record_correction<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    member: &Member,
    hash: &Hash,
    c: &deltachain_protocol::CreditCorrection,
) -> Result<Rule, StateFault> {
    let Some(target) = record_of(o, &c.original_tx)? else {
        return Ok(Err(format!(
            "transaction {} did not record a credit or public record, so there is nothing to correct",
            c.original_tx
        )));
    };
    if target.reporter() != member.public_key {
        return Ok(Err(format!(
            "only {}, the original reporter, may correct this record; {} may not",
            member_name(o, &target.reporter())?,
            member.name
        )));
    }
    let name = format!("record {}", c.original_tx);
    Ok(correct(
        o,
        target,
        &name,
        Correction {
            tx_hash: *hash,
            height: ctx.height,
            reason: c.reason.clone(),
            withdraw: c.withdraw,
        },
    )?
    .map(|()| None))
}

pub(super) fn objection<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    stx: &SignedTransaction,
    hash: &Hash,
    ob: &Objection,
    member: Option<&Member>,
) -> Result<Rule, StateFault> {
    let sender = stx.tx.sender;
    let target = refuse_on!(target_of(o, &ob.target)?);
    let parties = target.parties();
    let today = Date::from_unix_ms(ctx.time_ms);
    // Who objects: the enterprise itself, or a member under its consent.
    let enterprise = match (&ob.consent_id, member) {
        (None, _) => {
            let own = o.get::<String>(&keys::enterprise_of(&sender))?;
            match own {
                Some(u) if parties.contains(&u.as_str()) => u,
                _ => {
                    return Ok(Err(format!(
                        "an objection to {} is filed by the enterprise it concerns ({}) with its own key, or by a member naming the enterprise's consent",
                        ob.target,
                        parties.join(", ")
                    )))
                }
            }
        }
        (Some(_), None) => {
            return Ok(Err(format!(
                "sender {sender} is not a member, so it cannot file under a consent"
            )))
        }
        (Some(id), Some(m)) => {
            let Some(c) = o.get::<ConsentRecord>(&keys::consent(id))? else {
                return Ok(Err(format!("no consent with id {id} is on chain")));
            };
            let consent = &c.signed.consent;
            let bound = o.get::<PublicKey>(&keys::enterprise_key(&consent.enterprise))?;
            if consent.grantee != sender
                || !parties.contains(&consent.enterprise.as_str())
                || !consent.scope.covers(target.scope())
                || !c.active(today, bound.as_ref())
            {
                return Ok(Err(format!(
                    "consent {id} does not let {} object to {}: it must be in force, granted to it by {} and cover {}",
                    m.name,
                    ob.target,
                    parties.join(" or "),
                    target.scope()
                )));
            }
            consent.enterprise.clone()
        }
    };
    let mark_key = super::registry::dispute_key(&ob.target);
    if let Some(mark) = o.get::<DisputeMark>(&mark_key)? {
        if mark.open {
            return Ok(Err(format!(
                "{} is already disputed by objection {}, which awaits its answer",
                ob.target, mark.objection
            )));
        }
    }
    let deadline_ms = ctx.time_ms.saturating_add(ctx.objection_answer_ms);
    let rec = ObjectionRecord {
        id: *hash,
        target: ob.target.clone(),
        record_kind: target.kind().to_string(),
        enterprise: enterprise.clone(),
        filed_by: sender,
        consent_id: ob.consent_id.clone(),
        reason: ob.reason.clone(),
        reporter: target.reporter(),
        height: ctx.height,
        time_ms: ctx.time_ms,
        deadline_ms,
        answer: None,
    };
    o.put(keys::objection(hash), &rec);
    o.put(
        mark_key,
        &DisputeMark {
            objection: *hash,
            open: true,
        },
    );
    o.put(keys::open_objection(deadline_ms, hash), &());
    o.put(keys::enterprise_objection(&enterprise, hash), &());
    Ok(Ok(None))
}

pub(super) fn resolution<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    member: &Member,
    hash: &Hash,
    r: &ObjectionResolution,
) -> Result<Rule, StateFault> {
    let Some(mut rec) = o.get::<ObjectionRecord>(&keys::objection(&r.objection))? else {
        return Ok(Err(format!("no objection {} is on chain", r.objection)));
    };
    if rec.reporter != member.public_key {
        return Ok(Err(format!(
            "objection {} is for {} to answer, the record's reporter; {} may not",
            r.objection,
            member_name(o, &rec.reporter)?,
            member.name
        )));
    }
    if let Some(a) = &rec.answer {
        return Ok(Err(format!(
            "objection {} was already answered ({}) at height {}",
            r.objection, a.outcome, a.height
        )));
    }
    if r.outcome == ObjectionOutcome::Corrected {
        let target = refuse_on!(target_of(o, &rec.target)?);
        let name = rec.target.to_string();
        if let Err(e) = correct(
            o,
            target,
            &name,
            Correction {
                tx_hash: *hash,
                height: ctx.height,
                reason: r.explanation.clone(),
                withdraw: r.withdraw,
            },
        )? {
            return Ok(Err(e));
        }
        if let ObjectionTarget::Receivable(id) = &rec.target {
            let mut rv = o
                .get::<Receivable>(&keys::receivable(id))?
                .ok_or_else(|| StateFault(format!("receivable {id} is missing")))?;
            push_event(
                o,
                &mut rv,
                ctx,
                hash,
                member.public_key,
                ReceivableEventKind::Corrected {
                    reason: r.explanation.clone(),
                },
            );
        }
    }
    let mark_key = dispute_key(&rec.target);
    if r.outcome == ObjectionOutcome::Unresolved {
        o.put(
            mark_key,
            &DisputeMark {
                objection: rec.id,
                open: false,
            },
        );
    } else {
        o.delete(mark_key);
    }
    o.delete(keys::open_objection(rec.deadline_ms, &rec.id));
    rec.answer = Some(super::registry::ObjectionAnswer {
        outcome: r.outcome,
        explanation: r.explanation.clone(),
        withdraw: r.withdraw,
        tx_hash: *hash,
        height: ctx.height,
        time_ms: ctx.time_ms,
        late: ctx.time_ms > rec.deadline_ms,
    });
    o.put(keys::objection(&rec.id), &rec);
    Ok(Ok(None))
}
