//! Routes for receivables, public records, objections, admitted pilot-era
//! codes and the enterprise report.
//!
//! Receivables are read under the consent scope `receivables` of any party
//! to them (creditor, debtor or holder); the registrar and the financier of
//! a receivable read it as their own. The report gathers an enterprise's
//! whole picture under its `credit` consent and adds receivables only when
//! the reader may see them too. Every such read is audited like the
//! enterprise route.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use deltachain_protocol::registry::ObjectionTarget;
use deltachain_protocol::state::Receivable;
use deltachain_protocol::{validate, AuditRoute, CreditKind, Date, Hash};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::access::{self, decide, Resource};
use super::auth::Caller;
#[allow(unused_imports)] // named by `#[schema(value_type = ...)]`
use super::schema::{
    AuditUnavailable, CorrectionObject, DateStr, Forbidden, HexHash, HexKey, ObjectionTargetView,
    Pruned, StateAnswerObject, TimeStr,
};
use super::views::{self, AsOf, EventView, IpView, Names, Party as PartyView, RecordStatus};
use super::{
    audited, current, enterprise_request, ok, proofs, query_of, today, ApiError, ApiResult,
    ErrorBody, Page, PathStr, MAX_PAGE,
};
use crate::ledger::{keys, ObjectionRecord, ReceivableEvent};
use crate::node::Shared;
use crate::storage::{Party, PublicView, StoreError};

/// Most receivables listed per role of an enterprise.
const MAX_RECEIVABLES: usize = 1000;
/// Most credit records a report summarises.
const MAX_REPORT_RECORDS: usize = 50_000;
/// Most audit entries counted for "queries in the last 90 days".
const MAX_QUERY_COUNT: usize = 10_000;

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// A financing of a receivable, with the financier by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct FinancingView {
    /// pledge or factoring.
    #[schema(value_type = String)]
    pub kind: deltachain_protocol::FinanceKind,
    /// The bank or factor.
    pub financier: PartyView,
    /// Amount financed, in fen.
    pub amount_fen: u64,
    /// Financing contract reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Last day of the financing.
    #[schema(value_type = DateStr)]
    pub until: Date,
    /// The transaction that registered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HexHash>)]
    pub tx_hash: Option<Hash>,
}

/// Live, fully split into parts, or settled.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceivableStatus {
    /// A balance remains.
    Live,
    /// Split into parts, nothing left here.
    Split,
    /// Paid.
    Settled,
}

/// A receivable or part, with its derived amounts, financing and dispute
/// status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivableView {
    /// Its id.
    pub receivable_id: String,
    /// The receivable it was split from, at the top.
    pub root: String,
    /// The receivable it was split from directly.
    pub parent: Option<String>,
    /// The creditor's USCC.
    pub creditor: String,
    /// The debtor's USCC.
    pub debtor: String,
    /// The holder's USCC.
    pub holder: String,
    /// Face amount, in fen.
    pub amount_fen: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Issue date.
    #[schema(value_type = DateStr)]
    pub issued_on: Date,
    /// Due date.
    #[schema(value_type = DateStr)]
    pub due_on: Date,
    /// Invoice numbers backing it.
    pub invoices: Vec<String>,
    /// Underlying contract reference.
    pub contract: String,
    /// Unified movable-collateral registration number.
    pub collateral_registration: Option<String>,
    /// The registrar.
    pub registrar: PartyView,
    /// The transaction that registered it.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Paid so far, in fen.
    pub settled_fen: u64,
    /// Split off into parts, in fen.
    pub split_fen: u64,
    /// What remains, in fen.
    pub balance_fen: u64,
    /// Financed now, in fen.
    pub financed_fen: u64,
    /// What may still be financed, in fen.
    pub unfinanced_fen: u64,
    /// The financing in force, or null.
    pub financing: Option<FinancingView>,
    /// Ids of the parts split from it.
    pub parts: Vec<String>,
    /// Live, split or settled.
    pub status: ReceivableStatus,
    /// True while an objection to it is open.
    pub disputed: bool,
    /// The open objection, if any.
    #[schema(value_type = Option<HexHash>)]
    pub objection: Option<Hash>,
    /// Corrections, oldest first.
    #[schema(value_type = Vec<CorrectionObject>)]
    pub corrections: Vec<crate::ledger::Correction>,
    /// A financing past its end date that was never released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_financing: Option<FinancingView>,
    /// Every event, oldest first (on its own route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EventView>>,
    /// The height it is of, and with proof=true the proof.
    #[serde(flatten)]
    pub at: AsOf,
}

/// A receivable that was not registered at the height asked about.
#[derive(Debug, Serialize, ToSchema)]
// Closed, so that a present record does not also match this schema.
#[serde(deny_unknown_fields)]
pub struct ReceivableAbsent {
    /// The id asked about.
    pub receivable_id: String,
    /// Always false.
    pub registered: bool,
    /// The height the proof is of.
    pub as_of_height: u64,
    /// The proof of absence.
    #[schema(value_type = StateAnswerObject)]
    pub proof: deltachain_protocol::state::StateAnswer,
}

/// A receivable read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReceivableAnswer {
    /// The receivable.
    Receivable(Box<ReceivableView>),
    /// With proof=true: not registered at that height.
    Absent(Box<ReceivableAbsent>),
}

/// A receivable with its derived amounts, financing and dispute status.
fn receivable_view(
    s: &Shared,
    names: &mut Names,
    r: &Receivable,
    day: Date,
    history: Option<&[ReceivableEvent]>,
) -> Result<ReceivableView, ApiError> {
    let financed = r.financed_fen(day);
    let financing = match r.active_financing(day) {
        Some(f) => Some(FinancingView {
            kind: f.kind,
            financier: names.party(&f.financier)?,
            amount_fen: f.amount_fen,
            contract: Some(f.contract.clone()),
            until: f.until,
            tx_hash: Some(f.tx_hash),
        }),
        None => None,
    };
    let status = if r.balance() > 0 {
        ReceivableStatus::Live
    } else if r.settled_fen == 0 {
        ReceivableStatus::Split
    } else {
        ReceivableStatus::Settled
    };
    let dispute = s
        .store
        .dispute(&ObjectionTarget::Receivable(r.id.clone()))?;
    let expired_financing = match r.financing.as_ref().filter(|f| f.until < day) {
        Some(f) => Some(FinancingView {
            kind: f.kind,
            financier: names.party(&f.financier)?,
            amount_fen: f.amount_fen,
            contract: None,
            until: f.until,
            tx_hash: None,
        }),
        None => None,
    };
    let history = match history {
        Some(h) => Some(views::events(
            names,
            h.iter()
                .map(|e| (e.height, e.time_ms, &e.tx_hash, &e.sender, &e.event)),
        )?),
        None => None,
    };
    Ok(ReceivableView {
        receivable_id: r.id.clone(),
        root: r.root.clone(),
        parent: r.parent.clone(),
        creditor: r.creditor.clone(),
        debtor: r.debtor.clone(),
        holder: r.holder.clone(),
        amount_fen: r.amount_fen,
        currency: r.currency.clone(),
        issued_on: r.issued_on,
        due_on: r.due_on,
        invoices: r.invoices.clone(),
        contract: r.contract.clone(),
        collateral_registration: r.collateral_registration.clone(),
        registrar: names.party(&r.registrar)?,
        tx_hash: r.tx_hash,
        settled_fen: r.settled_fen,
        split_fen: r.split_fen,
        balance_fen: r.balance(),
        financed_fen: financed,
        unfinanced_fen: r.balance().saturating_sub(financed),
        financing,
        parts: r.parts.clone(),
        status,
        disputed: dispute.is_some(),
        objection: dispute.map(|d| d.objection),
        corrections: r.corrections.clone(),
        expired_financing,
        history,
        at: AsOf::default(),
    })
}

/// A public-credit record with its provider, status and dispute mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicRecordView {
    /// Position in the enterprise's list of public records, from 0.
    pub seq: u64,
    /// The transaction that carried it.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// tax_grade, tax_arrears, social_insurance, housing_fund, utilities,
    /// court_judgment, enforcement, dishonest_debtor or admin_penalty.
    pub category: String,
    /// The period it covers, YYYY-MM.
    pub period: String,
    /// The category's typed fields: one key, the category, holding them.
    pub data: Value,
    /// The source document reference.
    pub source: String,
    /// Free text.
    pub note: Option<String>,
    /// The data provider.
    pub provider: PartyView,
    /// Height it was committed at.
    pub height: u64,
    /// Block time it was committed at.
    #[schema(value_type = TimeStr)]
    pub reported_at: String,
    /// Active, corrected or withdrawn.
    pub status: RecordStatus,
    /// True while an objection to it is open.
    pub disputed: bool,
    /// Corrections and withdrawal, oldest first.
    #[schema(value_type = Vec<CorrectionObject>)]
    pub corrections: Vec<crate::ledger::Correction>,
}

/// A public record with its provider, status and dispute mark.
pub(super) fn public_view(
    s: &Shared,
    names: &mut Names,
    p: &PublicView,
) -> Result<PublicRecordView, ApiError> {
    let status = RecordStatus::of(p.withdrawn(), p.corrections.len());
    let disputed = s
        .store
        .dispute(&ObjectionTarget::Record(p.tx_hash))?
        .is_some();
    Ok(PublicRecordView {
        seq: p.seq,
        tx_hash: p.tx_hash,
        category: p.record.data.category().to_string(),
        period: p.record.period.clone(),
        data: serde_json::to_value(&p.record.data).unwrap_or(Value::Null),
        source: p.record.source.clone(),
        note: p.record.note.clone(),
        provider: names.party(&p.provider)?,
        height: p.height,
        reported_at: deltachain_protocol::time::format_unix_ms(p.time_ms),
        status,
        disputed,
        corrections: p.corrections.clone(),
    })
}

/// The reporter's answer to an objection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionAnswerView {
    /// corrected, upheld or unresolved.
    #[schema(value_type = String)]
    pub outcome: deltachain_protocol::ObjectionOutcome,
    /// The reporter's explanation.
    pub explanation: String,
    /// True when the record was withdrawn with the answer.
    pub withdraw: bool,
    /// The answering transaction.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Height it was committed at.
    pub height: u64,
    /// Block time it was committed at.
    #[schema(value_type = TimeStr)]
    pub time: String,
    /// True when it came after the deadline.
    pub late: bool,
}

/// Open, past its deadline, or answered.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionStatus {
    /// Awaiting the reporter's answer, inside the deadline.
    Open,
    /// Awaiting the answer, past the deadline (block time).
    Overdue,
    /// Answered.
    Answered,
}

/// An objection to a record and its answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionView {
    /// Its id: the hash of the transaction that filed it.
    #[schema(value_type = HexHash)]
    pub objection_id: Hash,
    /// The record objected to: `{"record": tx hash}` or `{"receivable": id}`.
    #[schema(value_type = ObjectionTargetView)]
    pub target: ObjectionTarget,
    /// credit, public or receivable.
    pub record_kind: String,
    /// The enterprise the record is about.
    pub enterprise: String,
    /// Who filed it: the enterprise's key or a member with its consent.
    pub filed_by: PartyView,
    /// The consent a member filed it under.
    pub consent_id: Option<String>,
    /// Why.
    pub reason: String,
    /// The reporter who must answer.
    pub reporter: PartyView,
    /// Height it was filed at.
    pub height: u64,
    /// Block time it was filed at.
    #[schema(value_type = TimeStr)]
    pub filed_at: String,
    /// When the answer is due (20 days of block time).
    #[schema(value_type = TimeStr)]
    pub deadline: String,
    /// Open, overdue or answered.
    pub status: ObjectionStatus,
    /// The answer, or null.
    pub answer: Option<ObjectionAnswerView>,
}

fn objection_view(
    names: &mut Names,
    o: &ObjectionRecord,
    now_ms: u64,
) -> Result<ObjectionView, ApiError> {
    let answer = o.answer.as_ref().map(|a| ObjectionAnswerView {
        outcome: a.outcome,
        explanation: a.explanation.clone(),
        withdraw: a.withdraw,
        tx_hash: a.tx_hash,
        height: a.height,
        time: deltachain_protocol::time::format_unix_ms(a.time_ms),
        late: a.late,
    });
    let status = match &o.answer {
        None if o.overdue(now_ms) => ObjectionStatus::Overdue,
        None => ObjectionStatus::Open,
        Some(_) => ObjectionStatus::Answered,
    };
    Ok(ObjectionView {
        objection_id: o.id,
        target: o.target.clone(),
        record_kind: o.record_kind.clone(),
        enterprise: o.enterprise.clone(),
        filed_by: names.party(&o.filed_by)?,
        consent_id: o.consent_id.clone(),
        reason: o.reason.clone(),
        reporter: names.party(&o.reporter)?,
        height: o.height,
        filed_at: deltachain_protocol::time::format_unix_ms(o.time_ms),
        deadline: deltachain_protocol::time::format_unix_ms(o.deadline_ms),
        status,
        answer,
    })
}

fn receivable_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim().to_string();
    deltachain_protocol::registry::check_receivable_id("receivable_id", &id)
        .map_err(|e| ApiError::bad("invalid_receivable_id", e.to_string()))?;
    Ok(id)
}

/// `GET /v1/receivables/{id}`: one receivable or part, with its history.
#[utoipa::path(
    get,
    path = "/v1/receivables/{id}",
    tag = "registry",
    summary = "A receivable or part",
    description = "Parties, balance, what is financed and by whom, dispute status and history. For regulators, its registrar and financier, an enterprise party to it, or a member holding the consent (scope receivables or all) of its holder, debtor or creditor. With proof=true, as of a height with a proof of presence or absence.",
    params(("id" = String, Path, description = "receivable id", pattern = "^[A-Za-z0-9._-]{1,64}$", max_length = 64), ("Deltachain-Purpose" = Option<String>, Header, description = "why the caller reads: loan_approval, post_loan_management, guarantee_review, supervision or self_inquiry; covered by the signature, recorded in the query log, and required of anyone reading on a consent", pattern = "^[a-z_]{1,32}$", max_length = 32), proofs::ProofQuery),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the receivable", body = ReceivableAnswer),
        (status = 400, description = "invalid_receivable_id or bad_query, future_height (above the tip), no_certified_height, height_needs_proof (height without proof=true)", body = ErrorBody),
        Forbidden,
        (status = 404, description = "not registered on this chain", body = ErrorBody),
        Pruned,
        AuditUnavailable
    )
)]
pub(super) async fn receivable(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(id): PathStr,
    q: QueryResult<proofs::ProofQuery>,
) -> ApiResult {
    let id = receivable_id(&id)?;
    let q = query_of(q)?;
    let proof = q.wanted()?;
    let Some(p) = caller.0.as_deref() else {
        return Err(access::signature_required());
    };
    current(&s)?;
    let Some(r) = s.store.receivable(&id)? else {
        // Whether an id exists is for members and regulators.
        decide(&caller, &Resource::Members, &*s)?;
        return Err(ApiError::not_found(format!(
            "receivable {id} is not registered on this chain"
        )));
    };
    let involved =
        r.registrar == p.key || r.financing.as_ref().is_some_and(|f| f.financier == p.key);
    // The first party whose consent (or identity) grants the read is the
    // one whose query log records it.
    let mut refusal = None;
    for party in [&r.holder, &r.debtor, &r.creditor] {
        match decide(
            &caller,
            &Resource::Receivables {
                uscc: party,
                involved,
            },
            &*s,
        ) {
            Ok(g) => {
                let body = if proof {
                    proven_receivable(&s, &id, q.height)
                } else {
                    let history = s.store.receivable_history(&id, 1000)?;
                    let mut names = Names::new(&s.store, &s.genesis);
                    receivable_view(&s, &mut names, &r, today(&s), Some(&history)).map(|mut v| {
                        v.at = AsOf::tip(s.store.tip().height);
                        ReceivableAnswer::Receivable(Box::new(v))
                    })
                };
                return audited(
                    &s,
                    &caller,
                    party,
                    AuditRoute::Receivables,
                    body.map(|b| (g, b)),
                )
                .await;
            }
            Err(e) => {
                refusal.get_or_insert(e);
            }
        }
    }
    let e = refusal.unwrap_or_else(access::signature_required);
    audited::<ReceivableAnswer>(&s, &caller, &r.holder, AuditRoute::Receivables, Err(e)).await
}

fn proven_receivable(
    s: &Shared,
    id: &str,
    height: Option<u64>,
) -> Result<ReceivableAnswer, ApiError> {
    let answer = proofs::answer(s, height, &[keys::receivable(id)])?;
    let at: Option<Receivable> = proofs::single(&answer, "receivable")?;
    let day = Date::from_unix_ms(answer.header.time_ms);
    let mut names = Names::new(&s.store, &s.genesis);
    Ok(match &at {
        Some(r) => {
            let mut v = receivable_view(s, &mut names, r, day, None)?;
            v.at = AsOf::proven(answer);
            ReceivableAnswer::Receivable(Box::new(v))
        }
        None => ReceivableAnswer::Absent(Box::new(ReceivableAbsent {
            receivable_id: id.to_string(),
            registered: false,
            as_of_height: answer.height,
            proof: answer,
        })),
    })
}

/// Count and sums of the receivables an enterprise has in one role.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RoleTotals {
    /// How many (at most 1,000 are listed).
    pub count: usize,
    /// Their balances, in fen.
    pub balance_fen: u64,
    /// What is financed of them now, in fen.
    pub financed_fen: u64,
}

/// Totals per role.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ReceivableTotals {
    /// As creditor.
    pub as_creditor: RoleTotals,
    /// As debtor.
    pub as_debtor: RoleTotals,
    /// As holder.
    pub as_holder: RoleTotals,
}

/// The receivables an enterprise is creditor, debtor or holder of.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseReceivables {
    /// The enterprise (on its own route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uscc: Option<String>,
    /// The height this view is of (on its own route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of_height: Option<u64>,
    /// Receivables it is owed.
    pub as_creditor: Vec<ReceivableView>,
    /// Payables it confirmed.
    pub as_debtor: Vec<ReceivableView>,
    /// Receivables and parts it holds.
    pub as_holder: Vec<ReceivableView>,
    /// Count, balance and financed amount per role.
    pub totals: ReceivableTotals,
}

fn receivables_body(s: &Shared, uscc: &str) -> Result<EnterpriseReceivables, ApiError> {
    let day = today(s);
    let mut names = Names::new(&s.store, &s.genesis);
    let mut role = |party: Party| -> Result<(Vec<ReceivableView>, RoleTotals), ApiError> {
        let list = s.store.receivables_of(uscc, party, MAX_RECEIVABLES)?;
        let totals = RoleTotals {
            count: list.len(),
            balance_fen: list.iter().map(|r| r.balance()).sum(),
            financed_fen: list.iter().map(|r| r.financed_fen(day)).sum(),
        };
        let views = list
            .iter()
            .map(|r| receivable_view(s, &mut names, r, day, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((views, totals))
    };
    let (as_creditor, creditor) = role(Party::Creditor)?;
    let (as_debtor, debtor) = role(Party::Debtor)?;
    let (as_holder, holder) = role(Party::Holder)?;
    Ok(EnterpriseReceivables {
        uscc: None,
        as_of_height: None,
        as_creditor,
        as_debtor,
        as_holder,
        totals: ReceivableTotals {
            as_creditor: creditor,
            as_debtor: debtor,
            as_holder: holder,
        },
    })
}

/// `GET /v1/enterprises/{uscc}/receivables`.
#[utoipa::path(
    get,
    path = "/v1/enterprises/{uscc}/receivables",
    tag = "registry",
    summary = "The receivables of an enterprise",
    description = "Those it is creditor, debtor or holder of, with totals of balance and financed amounts. For regulators, the enterprise, or a member holding its consent with scope receivables (or all).",
    params(("uscc" = String, Path, description = "Unified Social Credit Code (GB 32100-2015; the node also normalises lower case and separators)", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", min_length = 18, max_length = 18), ("Deltachain-Purpose" = Option<String>, Header, description = "why the caller reads: loan_approval, post_loan_management, guarantee_review, supervision or self_inquiry; covered by the signature, recorded in the query log, and required of anyone reading on a consent", pattern = "^[a-z_]{1,32}$", max_length = 32)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "its receivables", body = EnterpriseReceivables),
        (status = 400, description = "invalid_uscc", body = ErrorBody),
        Forbidden,
        AuditUnavailable
    )
)]
pub(super) async fn enterprise_receivables(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: QueryResult<Page>,
) -> ApiResult {
    let (_, uscc) = enterprise_request(&s, &caller, page, &uscc, false)?;
    current(&s)?;
    let what = Resource::Receivables {
        uscc: &uscc,
        involved: false,
    };
    let answer = match decide(&caller, &what, &*s) {
        Ok(g) => receivables_body(&s, &uscc).map(|mut v| {
            v.uscc = Some(uscc.clone());
            v.as_of_height = Some(s.store.tip().height);
            (g, v)
        }),
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, AuditRoute::Receivables, answer).await
}

#[derive(Deserialize)]
pub(super) struct ObjectionQuery {
    overdue: Option<bool>,
    enterprise: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `GET /v1/objections`: open ones (regulators), those past their deadline
/// with `overdue=true`, or one enterprise's with `enterprise=USCC` (the
/// enterprise itself and regulators).
#[utoipa::path(
    get,
    path = "/v1/objections",
    tag = "registry",
    summary = "Objections",
    description = "Every open one (regulators), with overdue=true those past their deadline by block time, or with enterprise=USCC one enterprise's (the enterprise itself and regulators).",
    params(("overdue" = Option<bool>, Query, description = "only those past their deadline"), ("enterprise" = Option<String>, Query, description = "one enterprise's USCC", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", max_length = 18), ("offset" = Option<u64>, Query, description = "entries to skip", minimum = 0, maximum = 4294967295u64), ("limit" = Option<u32>, Query, description = "entries to return, at most 500 (default 100)", minimum = 1, maximum = 500)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "objections", body = ObjectionsView),
        (status = 400, description = "invalid_uscc or bad_query", body = ErrorBody),
        Forbidden
    )
)]
pub(super) async fn objections(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    q: QueryResult<ObjectionQuery>,
) -> ApiResult {
    let q = query_of(q)?;
    super::check_paging(q.offset, q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).min(MAX_PAGE);
    let now = s.store.tip().time_ms;
    let list = match &q.enterprise {
        Some(raw) => {
            let uscc = super::uscc_of(&s, raw)?;
            decide(
                &caller,
                &Resource::Objection {
                    enterprise: &uscc,
                    involved: false,
                },
                &*s,
            )?;
            let all = s.store.objections_of(&uscc, MAX_RECEIVABLES)?;
            all.into_iter()
                .filter(|o| !q.overdue.unwrap_or(false) || o.overdue(now))
                .skip(offset)
                .take(limit)
                .collect::<Vec<_>>()
        }
        None => {
            decide(&caller, &Resource::Supervision, &*s)?;
            let at = q.overdue.unwrap_or(false).then_some(now);
            s.store.open_objections(at, offset, limit)?
        }
    };
    let mut names = Names::new(&s.store, &s.genesis);
    let views = list
        .iter()
        .map(|o| objection_view(&mut names, o, now))
        .collect::<Result<Vec<_>, _>>()?;
    ok(ObjectionsView {
        as_of_height: s.store.tip().height,
        as_of: deltachain_protocol::time::format_unix_ms(now),
        overdue_only: q.overdue.unwrap_or(false),
        offset,
        objections: views,
    })
}

/// `GET /v1/objections/{id}`.
#[utoipa::path(
    get,
    path = "/v1/objections/{id}",
    tag = "registry",
    summary = "One objection and its answer",
    description = "For the enterprise, the member that filed it, the reporter that answers it and regulators; 404 for anyone else.",
    params(("id" = String, Path, description = "the objection's transaction hash, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$", max_length = 64)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the objection", body = ObjectionView),
        (status = 400, description = "bad_hash", body = ErrorBody),
        (status = 404, description = "no such objection of yours", body = ErrorBody)
    )
)]
pub(super) async fn objection(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(id): PathStr,
) -> ApiResult {
    let id = Hash::from_hex(id.trim())
        .map_err(|e| ApiError::bad("bad_hash", format!("objection id: {e}")))?;
    let Some(p) = caller.0.as_deref() else {
        return Err(access::signature_required());
    };
    let not_found = || ApiError::not_found(format!("no objection {id} of yours"));
    let o = s.store.objection(&id)?.ok_or_else(not_found)?;
    let involved = o.filed_by == p.key || o.reporter == p.key;
    decide(
        &caller,
        &Resource::Objection {
            enterprise: &o.enterprise,
            involved,
        },
        &*s,
    )
    .map_err(|_| not_found())?;
    let mut names = Names::new(&s.store, &s.genesis);
    ok(objection_view(&mut names, &o, s.store.tip().time_ms)?)
}

/// `GET /v1/uscc-exceptions` and `/v1/uscc-exceptions/{code}`: the pilot-era
/// codes regulators admitted (members, validators and enterprises).
#[utoipa::path(
    get,
    path = "/v1/uscc-exceptions",
    tag = "registry",
    summary = "Admitted pilot-era codes",
    description = "Codes issued before GB 32100-2015 whose only fault is the check character, admitted by a regulator. For members, validators and enterprises.",
    params(("offset" = Option<u64>, Query, description = "entries to skip", minimum = 0, maximum = 4294967295u64), ("limit" = Option<u32>, Query, description = "entries to return, at most 500 (default 100)", minimum = 1, maximum = 500)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the codes", body = ExceptionsView),
        (status = 400, description = "bad_query", body = ErrorBody),
        Forbidden
    )
)]
pub(super) async fn uscc_exceptions(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    page: QueryResult<Page>,
) -> ApiResult {
    let page = super::page_of(page)?;
    decide(&caller, &Resource::Members, &*s)?;
    let offset = page.offset.unwrap_or(0);
    let list = s
        .store
        .uscc_exceptions(offset, page.limit.unwrap_or(100).min(MAX_PAGE))?;
    let mut names = Names::new(&s.store, &s.genesis);
    let views = list
        .iter()
        .map(|e| exception_view(&mut names, e))
        .collect::<Result<Vec<_>, _>>()?;
    ok(ExceptionsView {
        offset,
        exceptions: views,
    })
}

/// A list of objections.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionsView {
    /// The height this view is of.
    pub as_of_height: u64,
    /// Its block time, by which `overdue` is judged.
    #[schema(value_type = TimeStr)]
    pub as_of: String,
    /// True with overdue=true.
    pub overdue_only: bool,
    /// Entries skipped.
    pub offset: usize,
    /// The objections.
    pub objections: Vec<ObjectionView>,
}

/// A pilot-era code admitted by a regulator.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionView {
    /// The 18-character code.
    pub code: String,
    /// The enterprise's registered name.
    pub name: String,
    /// Why it was admitted.
    pub reason: String,
    /// The regulator that admitted it.
    pub admitted_by: PartyView,
    /// The admitting transaction.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Height it was admitted at.
    pub height: u64,
}

/// The admitted pilot-era codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionsView {
    /// Entries skipped.
    pub offset: usize,
    /// The codes.
    pub exceptions: Vec<ExceptionView>,
}

fn exception_view(
    names: &mut Names,
    e: &deltachain_protocol::state::UsccExceptionRecord,
) -> Result<ExceptionView, StoreError> {
    Ok(ExceptionView {
        code: e.code.clone(),
        name: e.name.clone(),
        reason: e.reason.clone(),
        admitted_by: names.party(&e.regulator)?,
        tx_hash: e.tx_hash,
        height: e.height,
    })
}

/// `GET /v1/uscc-exceptions/{code}`.
#[utoipa::path(
    get,
    path = "/v1/uscc-exceptions/{code}",
    tag = "registry",
    summary = "Whether a pilot-era code was admitted",
    description = "By whom and why.",
    params(("code" = String, Path, description = "the 18-character code", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", max_length = 18)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the admission", body = ExceptionView),
        (status = 400, description = "invalid_uscc", body = ErrorBody),
        Forbidden,
        (status = 404, description = "not admitted", body = ErrorBody)
    )
)]
pub(super) async fn uscc_exception(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(code): PathStr,
) -> ApiResult {
    let code = validate::normalize_uscc(&code);
    validate::uscc_lenient("code", &code)
        .map_err(|e| ApiError::bad("invalid_uscc", e.to_string()))?;
    decide(&caller, &Resource::Members, &*s)?;
    match s.store.uscc_exception(&code)? {
        Some(e) => {
            let mut names = Names::new(&s.store, &s.genesis);
            ok(exception_view(&mut names, &e)?)
        }
        None => Err(ApiError::not_found(format!(
            "no exception for USCC {code} is on chain"
        ))),
    }
}

/// Outstanding per loan: loans less repayments under one reference.
#[derive(Default)]
struct Loan {
    lent: u64,
    repaid: u64,
}

/// Loans outstanding at one bank, in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Outstanding {
    /// The bank's city ("-" when not set).
    pub city: String,
    /// The bank's name.
    pub bank: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Loans with something outstanding.
    pub loans: u64,
    /// Lent less repaid, in fen.
    pub outstanding_fen: u64,
}

/// Count and sum of one kind of credit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindTotal {
    /// How many.
    pub count: u64,
    /// Their amounts, in fen.
    pub sum_fen: u64,
}

/// A rating agency's latest grade.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestRating {
    /// The agency's name.
    pub agency: String,
    /// The grade.
    pub grade: String,
    /// Its date.
    #[schema(value_type = DateStr)]
    pub date: Date,
}

/// The credit section of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditSummary {
    /// Credit records in all.
    pub records: u64,
    /// How many the summary covers (at most 50,000).
    pub summarised: usize,
    /// Withdrawn records (not counted below).
    pub withdrawn: u64,
    /// Records under an open objection.
    pub disputed: u64,
    /// Loans outstanding per city, bank and currency.
    pub loans_outstanding: Vec<Outstanding>,
    /// Overdue records.
    pub overdue: KindTotal,
    /// Default records.
    pub default: KindTotal,
    /// Guarantees.
    pub guarantees: KindTotal,
    /// The latest grade of each agency.
    pub latest_ratings: Vec<LatestRating>,
}

/// The credit section of the report.
fn credit_summary(s: &Shared, names: &mut Names, uscc: &str) -> Result<CreditSummary, ApiError> {
    let (records, total) = s.store.credit_records(uscc, 0, MAX_REPORT_RECORDS)?;
    let mut loans: BTreeMap<(deltachain_protocol::PublicKey, String, String), Loan> =
        BTreeMap::new();
    let mut sums: BTreeMap<CreditKind, (u64, u64)> = BTreeMap::new();
    let mut ratings: BTreeMap<deltachain_protocol::PublicKey, (Date, String)> = BTreeMap::new();
    let (mut withdrawn, mut disputed) = (0u64, 0u64);
    for r in &records {
        if s.store
            .dispute(&ObjectionTarget::Record(r.tx_hash))?
            .is_some()
        {
            disputed += 1;
        }
        if r.withdrawn() {
            withdrawn += 1;
            continue;
        }
        let c = &r.record;
        let amount = c.amount_fen.unwrap_or(0);
        let e = sums.entry(c.kind).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(amount);
        let key = (r.reporter, c.reference.clone(), c.currency.clone());
        match c.kind {
            CreditKind::Loan => loans.entry(key).or_default().lent += amount,
            CreditKind::Repayment => loans.entry(key).or_default().repaid += amount,
            CreditKind::Rating => {
                let grade = c.rating.clone().unwrap_or_default();
                let newer = ratings.get(&r.reporter).is_none_or(|(d, _)| c.date >= *d);
                if newer {
                    ratings.insert(r.reporter, (c.date, grade));
                }
            }
            _ => {}
        }
    }
    // Outstanding per (city, bank, currency).
    let mut per_bank: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for ((bank, _, currency), l) in &loans {
        let out = l.lent.saturating_sub(l.repaid);
        if out == 0 {
            continue;
        }
        let member = s.store.member(bank)?;
        let city = member
            .as_ref()
            .map(|m| m.city.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "-".into());
        let name = names.party(bank)?.name;
        let e = per_bank.entry((city, name, currency.clone())).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(out);
    }
    let loans_outstanding = per_bank
        .into_iter()
        .map(|((city, bank, currency), (loans, sum))| Outstanding {
            city,
            bank,
            currency,
            loans,
            outstanding_fen: sum,
        })
        .collect();
    let kind = |k: CreditKind| {
        let (count, sum_fen) = sums.get(&k).copied().unwrap_or_default();
        KindTotal { count, sum_fen }
    };
    let mut latest_ratings = Vec::new();
    for (agency, (date, grade)) in &ratings {
        latest_ratings.push(LatestRating {
            agency: names.party(agency)?.name,
            grade: grade.clone(),
            date: *date,
        });
    }
    Ok(CreditSummary {
        records: total,
        summarised: records.len(),
        withdrawn,
        disputed,
        loans_outstanding,
        overdue: kind(CreditKind::Overdue),
        default: kind(CreditKind::Default),
        guarantees: kind(CreditKind::Guarantee),
        latest_ratings,
    })
}

/// How many reads of the enterprise's data reached the chain in the last
/// 90 days of block time (bounded).
fn recent_queries(s: &Shared, uscc: &str, now_ms: u64) -> Result<RecentQueries, ApiError> {
    let cutoff = now_ms.saturating_sub(90 * 86_400_000);
    let prefix = keys::audits_by_enterprise(uscc);
    let mut count = 0usize;
    let mut offset = 0usize;
    let mut capped = false;
    'scan: loop {
        let rows = s.store.audits(&prefix, offset, MAX_PAGE)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            if r.entry.time_ms < cutoff {
                break 'scan;
            }
            count += 1;
            if count >= MAX_QUERY_COUNT {
                capped = true;
                break 'scan;
            }
        }
        offset += rows.len();
    }
    Ok(RecentQueries {
        last_90_days: count,
        at_least: capped,
    })
}

/// Reads of the enterprise's data in the last 90 days.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentQueries {
    /// How many reached the chain.
    pub last_90_days: usize,
    /// True when counting stopped at 10,000.
    pub at_least: bool,
}

/// Who the enterprise is on chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    /// Its USCC.
    pub uscc: String,
    /// Its bound key, if one is bound.
    #[schema(value_type = Option<HexKey>)]
    pub bound_key: Option<deltachain_protocol::PublicKey>,
    /// The regulator's admission of a pilot-era code, if any.
    pub exception: Option<ExceptionView>,
}

/// Public-credit records, by category.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicSection {
    /// Public records in all.
    pub total: u64,
    /// By category (at most 500 shown).
    pub by_category: BTreeMap<String, Vec<PublicRecordView>>,
}

/// IP the enterprise owns.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpSection {
    /// Its rights, with pledges.
    pub owned: Vec<IpView>,
    /// How many are pledged now.
    pub pledged: usize,
}

/// Objections about the enterprise's records.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionSection {
    /// Awaiting an answer.
    pub open: Vec<ObjectionView>,
    /// Answered.
    pub closed: Vec<ObjectionView>,
}

/// Sections left out, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Withheld {
    /// Why receivables are not shown.
    pub receivables: String,
}

/// The enterprise report: the whole picture a bank reads before it lends.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    /// Code, bound key, exception.
    pub identity: Identity,
    /// Credit summary.
    pub credit: CreditSummary,
    /// Public-credit records.
    pub public_records: PublicSection,
    /// IP owned and pledged.
    pub ip: IpSection,
    /// Receivables; null when this reader may not see them (see withheld).
    pub receivables: Option<EnterpriseReceivables>,
    /// Open and closed objections.
    pub objections: ObjectionSection,
    /// Reads in the last 90 days.
    pub queries: RecentQueries,
    /// The height this report is of.
    pub as_of_height: u64,
    /// Its block time.
    #[schema(value_type = TimeStr)]
    pub as_of: String,
    /// What was left out, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
}

fn report_body(s: &Shared, caller: &Caller, uscc: &str) -> Result<Report, ApiError> {
    let tip = s.store.tip();
    let day = Date::from_unix_ms(tip.time_ms);
    let mut names = Names::new(&s.store, &s.genesis);
    let exception = match s.store.uscc_exception(uscc)? {
        Some(e) => Some(exception_view(&mut names, &e)?),
        None => None,
    };
    let identity = Identity {
        uscc: uscc.to_string(),
        bound_key: s.store.enterprise_key(uscc)?,
        exception,
    };
    let credit = credit_summary(s, &mut names, uscc)?;
    let (publics, total_public) = s.store.public_records(uscc, 0, MAX_PAGE)?;
    let mut by_category: BTreeMap<String, Vec<PublicRecordView>> = BTreeMap::new();
    for p in &publics {
        by_category
            .entry(p.record.data.category().to_string())
            .or_default()
            .push(public_view(s, &mut names, p)?);
    }
    let owned = s.store.owned_ips(uscc, 1000)?;
    let ip_list = owned
        .iter()
        .map(|i| views::ip(&mut names, i, day, None))
        .collect::<Result<Vec<_>, _>>()?;
    let pledged = owned
        .iter()
        .filter(|i| i.active_pledge(day).is_some())
        .count();
    let may_see_receivables = decide(
        caller,
        &Resource::Receivables {
            uscc,
            involved: false,
        },
        s,
    )
    .is_ok();
    let receivables = if may_see_receivables {
        Some(receivables_body(s, uscc)?)
    } else {
        None
    };
    let objections = s.store.objections_of(uscc, MAX_RECEIVABLES)?;
    let (open, closed): (Vec<_>, Vec<_>) = objections.iter().partition(|o| o.answer.is_none());
    let open = open
        .iter()
        .map(|o| objection_view(&mut names, o, tip.time_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let closed = closed
        .iter()
        .map(|o| objection_view(&mut names, o, tip.time_ms))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        identity,
        credit,
        public_records: PublicSection {
            total: total_public,
            by_category,
        },
        ip: IpSection {
            owned: ip_list,
            pledged,
        },
        receivables,
        objections: ObjectionSection { open, closed },
        queries: recent_queries(s, uscc, tip.time_ms)?,
        as_of_height: tip.height,
        as_of: deltachain_protocol::time::format_unix_ms(tip.time_ms),
        withheld: (!may_see_receivables).then(|| Withheld {
            receivables: "needs the enterprise's consent with scope receivables (or all)".into(),
        }),
    })
}

/// `GET /v1/enterprises/{uscc}/report`: the whole picture of an enterprise.
#[utoipa::path(
    get,
    path = "/v1/enterprises/{uscc}/report",
    tag = "enterprises",
    summary = "The enterprise report",
    description = "Identity (code, bound key, regulator's exception), credit summary (loans outstanding per city and bank, overdue, default, guarantees, latest rating per agency), public records by category, IP owned and pledged, receivables (when the reader may see them; else listed under withheld), objections, and the number of reads in the last 90 days. Same access as /v1/enterprises/{uscc}; `deltachain report USCC` prints it.",
    params(("uscc" = String, Path, description = "Unified Social Credit Code (GB 32100-2015; the node also normalises lower case and separators)", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", min_length = 18, max_length = 18), ("Deltachain-Purpose" = Option<String>, Header, description = "why the caller reads: loan_approval, post_loan_management, guarantee_review, supervision or self_inquiry; covered by the signature, recorded in the query log, and required of anyone reading on a consent", pattern = "^[a-z_]{1,32}$", max_length = 32)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the report", body = Report),
        (status = 400, description = "invalid_uscc", body = ErrorBody),
        Forbidden,
        AuditUnavailable
    )
)]
pub(super) async fn report(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: QueryResult<Page>,
) -> ApiResult {
    let (_, uscc) = enterprise_request(&s, &caller, page, &uscc, false)?;
    current(&s)?;
    let answer = match decide(&caller, &Resource::EnterpriseRecords { uscc: &uscc }, &*s) {
        Ok(g) => report_body(&s, &caller, &uscc).map(|v| (g, v)),
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, AuditRoute::Report, answer).await
}
