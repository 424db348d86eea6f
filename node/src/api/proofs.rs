//! `?proof=true`: answers about the state at a height, with the certified
//! header of that height and a Merkle proof for every key the answer rests
//! on, so that a client believes the validators' signatures rather than
//! this node.

use axum::http::StatusCode;
use deltachain_protocol::state::{CreditCommitment, ProvenCredit, ProvenEntry, StateAnswer};
use serde::Deserialize;

use super::ApiError;
use crate::ledger::{keys, CreditEntry};
use crate::node::Shared;
use crate::storage::ProofUnavailable;

/// Most credit records one proven answer carries: the client recomputes
/// the enterprise's commitment from all of them.
pub const MAX_PROVEN_CREDITS: u64 = 10_000;

/// The query of a provable read (and its documentation in
/// `/v1/openapi.json`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// Attach the certified header, commit certificate and Merkle proofs
    /// (check them with `deltachain verify`).
    pub proof: Option<bool>,
    /// Answer about this past height (with proof=true); 410 outside the
    /// node's window.
    #[param(minimum = 1, maximum = 18446744073709551615u64)]
    pub height: Option<u64>,
}

impl ProofQuery {
    /// True if a proof was asked for; a height without a proof is refused
    /// rather than silently answered about the present.
    pub fn wanted(&self) -> Result<bool, ApiError> {
        let wanted = self.proof.unwrap_or(false);
        if self.height.is_some() && !wanted {
            return Err(ApiError::bad(
                "height_needs_proof",
                "height=H answers about a past state only with proof=true",
            ));
        }
        Ok(wanted)
    }
}

impl From<ProofUnavailable> for ApiError {
    fn from(e: ProofUnavailable) -> Self {
        match e {
            ProofUnavailable::Pruned { .. } => {
                ApiError::new(StatusCode::GONE, "state_pruned", e.to_string())
            }
            ProofUnavailable::Future { .. } => ApiError::bad("future_height", e.to_string()),
            ProofUnavailable::Store(e) => e.into(),
        }
    }
}

/// The values of `keys` at `height` (the tip when `None`) with their
/// proofs, the header and its commit certificate.
pub fn answer(s: &Shared, height: Option<u64>, keys: &[Vec<u8>]) -> Result<StateAnswer, ApiError> {
    let tip = s.store.tip().height;
    let height = height.unwrap_or(tip);
    if height == 0 {
        return Err(ApiError::bad(
            "no_certified_height",
            if tip == 0 {
                "no block is committed yet; proofs start at height 1"
            } else {
                "height 0 is the genesis, which no certificate signs; proofs start at height 1"
            },
        ));
    }
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        let (value, proof) = s.store.prove(key, height, s.proof_window)?;
        entries.push(ProvenEntry {
            key: String::from_utf8_lossy(key).into_owned(),
            value,
            proof,
        });
    }
    #[cfg(feature = "byzantine-test")]
    lie::about_values(&mut entries);
    let missing = || ApiError::from(ProofUnavailable::Future { height, tip });
    let header = s.store.header(height)?.ok_or_else(missing)?;
    let certificate = s.store.cert(height)?.ok_or_else(missing)?;
    Ok(StateAnswer {
        height,
        header,
        certificate,
        entries,
    })
}

/// Adds the proof of one more key, at the answer's height.
pub fn add(s: &Shared, answer: &mut StateAnswer, key: Vec<u8>) -> Result<(), ApiError> {
    let (value, proof) = s.store.prove(&key, answer.height, s.proof_window)?;
    answer.entries.push(ProvenEntry {
        key: String::from_utf8_lossy(&key).into_owned(),
        value,
        proof,
    });
    Ok(())
}

/// An enterprise's credit records as of `height` with the proof of its
/// commitment: every record, in order, so the client can recompute it.
pub fn credits(
    s: &Shared,
    uscc: &str,
    height: Option<u64>,
) -> Result<(StateAnswer, Vec<ProvenCredit>), ApiError> {
    let answer = answer(s, height, &[keys::credit_commitment(uscc)])?;
    let corrupt = |m: String| {
        ApiError::from(crate::storage::StoreError::Corrupt {
            path: String::new(),
            detail: m,
        })
    };
    let count = answer.entries[0]
        .decode::<CreditCommitment>("credit commitment")
        .map_err(|e| corrupt(e.to_string()))?
        .map_or(0, |c| c.count);
    if count > MAX_PROVEN_CREDITS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_to_prove",
            format!(
                "{uscc} has {count} credit records; one proven answer carries at most {MAX_PROVEN_CREDITS}"
            ),
        ));
    }
    let rows = s
        .store
        .state_scan::<CreditEntry>(&keys::credits(uscc), false, 0, count as usize)?;
    let mut out = Vec::with_capacity(rows.len());
    for (_, e) in rows {
        let (tx, receipt) = s.store.tx_at(e.height, e.index)?.ok_or_else(|| {
            corrupt(format!(
                "credit record of {uscc} points at a missing transaction"
            ))
        })?;
        let deltachain_protocol::Payload::Credit(record) = tx.tx.payload else {
            return Err(corrupt(format!(
                "credit record of {uscc} points at another kind of transaction"
            )));
        };
        out.push(ProvenCredit {
            tx_hash: receipt.tx_hash,
            reporter: e.reporter,
            height: e.height,
            time_ms: e.time_ms,
            record,
            corrections: e
                .corrections
                .into_iter()
                .filter(|c| c.height <= answer.height)
                .collect(),
        });
    }
    #[cfg(feature = "byzantine-test")]
    lie::about_credits(&mut out);
    Ok((answer, out))
}

/// The proven value of a single-key answer, decoded.
pub fn single<T: serde::de::DeserializeOwned>(
    answer: &StateAnswer,
    what: &'static str,
) -> Result<Option<T>, ApiError> {
    answer.entries[0].decode(what).map_err(|e| {
        ApiError::from(crate::storage::StoreError::Corrupt {
            path: String::new(),
            detail: e.to_string(),
        })
    })
}

/// A dishonest node, for the multi-process tests only: with
/// `DELTACHAIN_TEST_LIE=hide-pledge` it answers IP reads as if no pledge
/// existed, with `drop-credit` (the two may be combined, comma-separated) it leaves an enterprise's latest record out.
/// The proofs stay genuine; the client must catch the lie.
#[cfg(feature = "byzantine-test")]
mod lie {
    use deltachain_protocol::codec;
    use deltachain_protocol::state::{IpRecord, ProvenCredit, ProvenEntry};

    fn lies(about: &str) -> bool {
        std::env::var("DELTACHAIN_TEST_LIE").is_ok_and(|v| v.split(',').any(|m| m == about))
    }

    pub fn about_values(entries: &mut [ProvenEntry]) {
        if !lies("hide-pledge") {
            return;
        }
        for e in entries.iter_mut().filter(|e| e.key.starts_with("ip/")) {
            if let Ok(Some(mut r)) = e.decode::<IpRecord>("ip") {
                r.pledge = None;
                e.value = Some(codec::encode(&r));
            }
        }
    }

    pub fn about_credits(records: &mut Vec<ProvenCredit>) {
        if lies("drop-credit") {
            records.pop();
        }
    }
}
