//! Reads of receivables, public records, objections and code exceptions.

use deltachain_protocol::registry::ObjectionTarget;
use deltachain_protocol::state::{Receivable, UsccExceptionRecord};
use deltachain_protocol::{Hash, Height, PublicKey, PublicRecord};

use super::{Store, StoreError};
use crate::ledger::{self, keys, DisputeMark, ObjectionRecord, PublicEntry, ReceivableEvent};

/// A public record with its content, as the API shows it.
#[derive(Debug, Clone)]
pub struct PublicView {
    /// Position in the enterprise's list, from 0.
    pub seq: u64,
    /// The reporting transaction.
    pub tx_hash: Hash,
    /// The provider.
    pub provider: PublicKey,
    /// Height.
    pub height: Height,
    /// Block time.
    pub time_ms: u64,
    /// The record as reported.
    pub record: PublicRecord,
    /// Corrections, oldest first.
    pub corrections: Vec<ledger::Correction>,
}

impl PublicView {
    /// True once withdrawn.
    pub fn withdrawn(&self) -> bool {
        self.corrections.iter().any(|c| c.withdraw)
    }
}

/// How an enterprise stands to a receivable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The original creditor.
    Creditor,
    /// The debtor.
    Debtor,
    /// The current holder.
    Holder,
}

impl Party {
    fn byte(self) -> u8 {
        match self {
            Party::Creditor => b'c',
            Party::Debtor => b'd',
            Party::Holder => b'h',
        }
    }
}

impl Store {
    /// A regulator's exception for a pilot-era code.
    pub fn uscc_exception(&self, code: &str) -> Result<Option<UsccExceptionRecord>, StoreError> {
        self.state(&keys::uscc_exception(code))
    }

    /// Admitted pilot-era codes, in code order (bounded).
    pub fn uscc_exceptions(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<UsccExceptionRecord>, StoreError> {
        Ok(self
            .state_scan::<UsccExceptionRecord>(keys::USCC_EXCEPTIONS, false, skip, limit)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// A receivable or part.
    pub fn receivable(&self, id: &str) -> Result<Option<Receivable>, StoreError> {
        self.state(&keys::receivable(id))
    }

    /// A receivable's history, oldest first (bounded).
    pub fn receivable_history(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<ReceivableEvent>, StoreError> {
        Ok(self
            .state_scan::<ReceivableEvent>(&keys::receivable_events(id), false, 0, limit)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// The receivables an enterprise is `party` to, in id order (bounded).
    pub fn receivables_of(
        &self,
        uscc: &str,
        party: Party,
        limit: usize,
    ) -> Result<Vec<Receivable>, StoreError> {
        let prefix = keys::receivable_parties(uscc, party.byte());
        let rows = self.state_scan::<()>(&prefix, false, 0, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, ()) in rows {
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let r = self.receivable(&id)?.ok_or_else(|| {
                self.corrupt(format!("receivable index of {uscc} names missing {id}"))
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// An enterprise's public records, newest first, and how many it has.
    pub fn public_records(
        &self,
        uscc: &str,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<PublicView>, u64), StoreError> {
        let total = self.state::<u64>(&keys::public_count(uscc))?.unwrap_or(0);
        let prefix = keys::publics(uscc);
        let rows = self.state_scan::<PublicEntry>(&prefix, true, skip, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, e) in rows {
            let seq = key[prefix.len()..]
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt(format!("bad public-record key for {uscc}")))?;
            let missing = || {
                self.corrupt(format!(
                    "public record {uscc}/{seq} points at {}/{}, which is not a public record",
                    e.height, e.index
                ))
            };
            let (tx, receipt) = self.tx_at(e.height, e.index)?.ok_or_else(missing)?;
            let deltachain_protocol::Payload::PublicRecord(record) = tx.tx.payload else {
                return Err(missing());
            };
            out.push(PublicView {
                seq,
                tx_hash: receipt.tx_hash,
                provider: e.provider,
                height: e.height,
                time_ms: e.time_ms,
                record,
                corrections: e.corrections,
            });
        }
        Ok((out, total))
    }

    /// An objection.
    pub fn objection(&self, id: &Hash) -> Result<Option<ObjectionRecord>, StoreError> {
        self.state(&keys::objection(id))
    }

    /// Whether a record is disputed, and by which objection.
    pub fn dispute(&self, target: &ObjectionTarget) -> Result<Option<DisputeMark>, StoreError> {
        self.state(&ledger::registry::dispute_key(target))
    }

    /// An enterprise's objections (bounded), oldest filed first.
    pub fn objections_of(
        &self,
        uscc: &str,
        limit: usize,
    ) -> Result<Vec<ObjectionRecord>, StoreError> {
        let prefix = keys::enterprise_objections(uscc);
        let mut out = Vec::new();
        for (k, ()) in self.state_scan::<()>(&prefix, false, 0, limit)? {
            let id = Hash(
                k[prefix.len()..]
                    .try_into()
                    .map_err(|_| self.corrupt(format!("bad objection key for {uscc}")))?,
            );
            out.push(self.objection(&id)?.ok_or_else(|| {
                self.corrupt(format!("objection index names missing objection {id}"))
            })?);
        }
        out.sort_by_key(|o| (o.height, o.id));
        Ok(out)
    }

    /// Unanswered objections, earliest deadline first (bounded); with
    /// `overdue_at`, only those whose deadline passed before that block
    /// time.
    pub fn open_objections(
        &self,
        overdue_at: Option<u64>,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<ObjectionRecord>, StoreError> {
        let prefix = keys::OPEN_OBJECTIONS;
        let mut out = Vec::new();
        for (k, ()) in self.state_scan::<()>(prefix, false, skip, limit)? {
            let rest = &k[prefix.len()..];
            if rest.len() != 40 {
                return Err(self.corrupt("bad open-objection key".to_string()));
            }
            let deadline = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            if overdue_at.is_some_and(|now| deadline >= now) {
                break;
            }
            let id = Hash(rest[8..].try_into().expect("32 bytes"));
            out.push(
                self.objection(&id)?
                    .ok_or_else(|| self.corrupt(format!("open objection {id} is missing")))?,
            );
        }
        Ok(out)
    }
}
