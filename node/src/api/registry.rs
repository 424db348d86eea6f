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
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{self, decide, Resource};
use super::auth::Caller;
use super::views::{self, Names};
use super::{
    audited, current, enterprise_request, ok, proofs, query_of, today, ApiError, ApiResult, Page,
    PathStr, MAX_PAGE,
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

fn fen(v: u64) -> Value {
    json!(v)
}

/// A receivable with its derived amounts, financing and dispute status.
fn receivable_view(
    s: &Shared,
    names: &mut Names,
    r: &Receivable,
    day: Date,
    history: Option<&[ReceivableEvent]>,
) -> Result<Value, ApiError> {
    let financed = r.financed_fen(day);
    let financing = match r.active_financing(day) {
        Some(f) => json!({
            "kind": f.kind,
            "financier": names.party(&f.financier)?,
            "amount_fen": f.amount_fen,
            "contract": f.contract,
            "until": f.until,
            "tx_hash": f.tx_hash,
        }),
        None => Value::Null,
    };
    let status = if r.balance() > 0 {
        "live"
    } else if r.settled_fen == 0 {
        "split"
    } else {
        "settled"
    };
    let dispute = s
        .store
        .dispute(&ObjectionTarget::Receivable(r.id.clone()))?;
    let mut v = json!({
        "receivable_id": r.id,
        "root": r.root,
        "parent": r.parent,
        "creditor": r.creditor,
        "debtor": r.debtor,
        "holder": r.holder,
        "amount_fen": r.amount_fen,
        "currency": r.currency,
        "issued_on": r.issued_on,
        "due_on": r.due_on,
        "invoices": r.invoices,
        "contract": r.contract,
        "collateral_registration": r.collateral_registration,
        "registrar": names.party(&r.registrar)?,
        "tx_hash": r.tx_hash,
        "settled_fen": r.settled_fen,
        "split_fen": r.split_fen,
        "balance_fen": r.balance(),
        "financed_fen": financed,
        "unfinanced_fen": r.balance() - financed,
        "financing": financing,
        "parts": r.parts,
        "status": status,
        "disputed": dispute.is_some(),
        "objection": dispute.map(|d| d.objection),
        "corrections": r.corrections,
    });
    if let Some(f) = r.financing.as_ref().filter(|f| f.until < day) {
        v["expired_financing"] = json!({
            "kind": f.kind,
            "financier": names.party(&f.financier)?,
            "amount_fen": f.amount_fen,
            "until": f.until,
        });
    }
    if let Some(h) = history {
        v["history"] = views::events(
            names,
            h.iter()
                .map(|e| (e.height, e.time_ms, &e.tx_hash, &e.sender, &e.event)),
        )?;
    }
    Ok(v)
}

/// A public record with its provider, status and dispute mark.
pub(super) fn public_view(
    s: &Shared,
    names: &mut Names,
    p: &PublicView,
) -> Result<Value, ApiError> {
    let status = if p.withdrawn() {
        "withdrawn"
    } else if p.corrections.is_empty() {
        "active"
    } else {
        "corrected"
    };
    let disputed = s
        .store
        .dispute(&ObjectionTarget::Record(p.tx_hash))?
        .is_some();
    Ok(json!({
        "seq": p.seq,
        "tx_hash": p.tx_hash,
        "category": p.record.data.category(),
        "period": p.record.period,
        "data": p.record.data,
        "source": p.record.source,
        "note": p.record.note,
        "provider": names.party(&p.provider)?,
        "height": p.height,
        "reported_at": deltachain_protocol::time::format_unix_ms(p.time_ms),
        "status": status,
        "disputed": disputed,
        "corrections": p.corrections,
    }))
}

fn objection_view(names: &mut Names, o: &ObjectionRecord, now_ms: u64) -> Result<Value, ApiError> {
    let answer = match &o.answer {
        Some(a) => json!({
            "outcome": a.outcome,
            "explanation": a.explanation,
            "withdraw": a.withdraw,
            "tx_hash": a.tx_hash,
            "height": a.height,
            "time": deltachain_protocol::time::format_unix_ms(a.time_ms),
            "late": a.late,
        }),
        None => Value::Null,
    };
    let status = match &o.answer {
        None if o.overdue(now_ms) => "overdue",
        None => "open",
        Some(_) => "answered",
    };
    Ok(json!({
        "objection_id": o.id,
        "target": o.target,
        "record_kind": o.record_kind,
        "enterprise": o.enterprise,
        "filed_by": names.party(&o.filed_by)?,
        "consent_id": o.consent_id,
        "reason": o.reason,
        "reporter": names.party(&o.reporter)?,
        "height": o.height,
        "filed_at": deltachain_protocol::time::format_unix_ms(o.time_ms),
        "deadline": deltachain_protocol::time::format_unix_ms(o.deadline_ms),
        "status": status,
        "answer": answer,
    }))
}

fn receivable_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim().to_string();
    deltachain_protocol::registry::check_receivable_id("receivable_id", &id)
        .map_err(|e| ApiError::bad("invalid_receivable_id", e.to_string()))?;
    Ok(id)
}

/// `GET /v1/receivables/{id}`: one receivable or part, with its history.
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
                        v["as_of_height"] = json!(s.store.tip().height);
                        v
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
    audited(&s, &caller, &r.holder, AuditRoute::Receivables, Err(e)).await
}

fn proven_receivable(s: &Shared, id: &str, height: Option<u64>) -> Result<Value, ApiError> {
    let answer = proofs::answer(s, height, &[keys::receivable(id)])?;
    let at: Option<Receivable> = proofs::single(&answer, "receivable")?;
    let day = Date::from_unix_ms(answer.header.time_ms);
    let mut names = Names::new(&s.store, &s.genesis);
    let mut v = match &at {
        Some(r) => receivable_view(s, &mut names, r, day, None)?,
        None => json!({"receivable_id": id}),
    };
    v["registered"] = json!(at.is_some());
    v["as_of_height"] = json!(answer.height);
    v["proof"] = json!(answer);
    Ok(v)
}

fn receivables_body(s: &Shared, uscc: &str) -> Result<Value, ApiError> {
    let day = today(s);
    let mut names = Names::new(&s.store, &s.genesis);
    let mut out = serde_json::Map::new();
    let mut totals = json!({});
    for (name, party) in [
        ("as_creditor", Party::Creditor),
        ("as_debtor", Party::Debtor),
        ("as_holder", Party::Holder),
    ] {
        let list = s.store.receivables_of(uscc, party, MAX_RECEIVABLES)?;
        let balance: u64 = list.iter().map(|r| r.balance()).sum();
        let financed: u64 = list.iter().map(|r| r.financed_fen(day)).sum();
        totals[name] = json!({
            "count": list.len(),
            "balance_fen": fen(balance),
            "financed_fen": fen(financed),
        });
        let views = list
            .iter()
            .map(|r| receivable_view(s, &mut names, r, day, None))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(name.into(), Value::Array(views));
    }
    out.insert("totals".into(), totals);
    Ok(Value::Object(out))
}

/// `GET /v1/enterprises/{uscc}/receivables`.
pub(super) async fn enterprise_receivables(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: QueryResult<Page>,
) -> ApiResult {
    let (_, uscc) = enterprise_request(&s, &caller, page, &uscc)?;
    current(&s)?;
    let what = Resource::Receivables {
        uscc: &uscc,
        involved: false,
    };
    let answer = match decide(&caller, &what, &*s) {
        Ok(g) => receivables_body(&s, &uscc).map(|mut v| {
            v["uscc"] = json!(uscc);
            v["as_of_height"] = json!(s.store.tip().height);
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
pub(super) async fn objections(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    q: QueryResult<ObjectionQuery>,
) -> ApiResult {
    let q = query_of(q)?;
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
    ok(json!({
        "as_of_height": s.store.tip().height,
        "as_of": deltachain_protocol::time::format_unix_ms(now),
        "overdue_only": q.overdue.unwrap_or(false),
        "offset": offset,
        "objections": views,
    }))
}

/// `GET /v1/objections/{id}`.
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
pub(super) async fn uscc_exceptions(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    page: QueryResult<Page>,
) -> ApiResult {
    let page = query_of(page)?;
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
    ok(json!({"offset": offset, "exceptions": views}))
}

fn exception_view(
    names: &mut Names,
    e: &deltachain_protocol::state::UsccExceptionRecord,
) -> Result<Value, StoreError> {
    Ok(json!({
        "code": e.code,
        "name": e.name,
        "reason": e.reason,
        "admitted_by": names.party(&e.regulator)?,
        "tx_hash": e.tx_hash,
        "height": e.height,
    }))
}

/// `GET /v1/uscc-exceptions/{code}`.
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

/// The credit section of the report.
fn credit_summary(s: &Shared, names: &mut Names, uscc: &str) -> Result<Value, ApiError> {
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
    let outstanding: Vec<Value> = per_bank
        .iter()
        .map(|((city, bank, currency), (n, sum))| {
            json!({"city": city, "bank": bank, "currency": currency, "loans": n, "outstanding_fen": sum})
        })
        .collect();
    let kind = |k: CreditKind| {
        let (n, sum) = sums.get(&k).copied().unwrap_or_default();
        json!({"count": n, "sum_fen": sum})
    };
    let mut latest = Vec::new();
    for (agency, (date, grade)) in &ratings {
        latest.push(json!({"agency": names.party(agency)?.name, "grade": grade, "date": date}));
    }
    Ok(json!({
        "records": total,
        "summarised": records.len(),
        "withdrawn": withdrawn,
        "disputed": disputed,
        "loans_outstanding": outstanding,
        "overdue": kind(CreditKind::Overdue),
        "default": kind(CreditKind::Default),
        "guarantees": kind(CreditKind::Guarantee),
        "latest_ratings": latest,
    }))
}

/// How many reads of the enterprise's data reached the chain in the last
/// 90 days of block time (bounded).
fn recent_queries(s: &Shared, uscc: &str, now_ms: u64) -> Result<Value, ApiError> {
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
    Ok(json!({"last_90_days": count, "at_least": capped}))
}

fn report_body(s: &Shared, caller: &Caller, uscc: &str) -> Result<Value, ApiError> {
    let tip = s.store.tip();
    let day = Date::from_unix_ms(tip.time_ms);
    let mut names = Names::new(&s.store, &s.genesis);
    let exception = match s.store.uscc_exception(uscc)? {
        Some(e) => exception_view(&mut names, &e)?,
        None => Value::Null,
    };
    let identity = json!({
        "uscc": uscc,
        "bound_key": s.store.enterprise_key(uscc)?,
        "exception": exception,
    });
    let credit = credit_summary(s, &mut names, uscc)?;
    let (publics, total_public) = s.store.public_records(uscc, 0, MAX_PAGE)?;
    let mut by_category: BTreeMap<String, Vec<Value>> = BTreeMap::new();
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
        receivables_body(s, uscc)?
    } else {
        Value::Null
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
    let mut v = json!({
        "identity": identity,
        "credit": credit,
        "public_records": {"total": total_public, "by_category": by_category},
        "ip": {"owned": ip_list, "pledged": pledged},
        "receivables": receivables,
        "objections": {"open": open, "closed": closed},
        "queries": recent_queries(s, uscc, tip.time_ms)?,
        "as_of_height": tip.height,
        "as_of": deltachain_protocol::time::format_unix_ms(tip.time_ms),
    });
    if !may_see_receivables {
        v["withheld"] = json!({"receivables": "needs the enterprise's consent with scope receivables (or all)"});
    }
    Ok(v)
}

/// `GET /v1/enterprises/{uscc}/report`: the whole picture of an enterprise.
pub(super) async fn report(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: QueryResult<Page>,
) -> ApiResult {
    let (_, uscc) = enterprise_request(&s, &caller, page, &uscc)?;
    current(&s)?;
    let answer = match decide(&caller, &Resource::EnterpriseRecords { uscc: &uscc }, &*s) {
        Ok(g) => report_body(&s, &caller, &uscc).map(|v| (g, v)),
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, AuditRoute::Report, answer).await
}
