//! A bounded pool of verified transactions waiting for a block.
//!
//! Only transactions that decode, pass the stateless checks, carry a valid
//! signature (checked in batches before admission, see [`verify`]), belong
//! to this chain, come from a current member and carry a fresh nonce get in.
//! The pool is bounded by count and bytes and answers "full" instead of
//! growing. Each sender's transactions are kept in nonce order; proposals
//! take senders round-robin in the order they first arrived, so one busy
//! bank cannot starve the others. Committed transactions, and any whose
//! nonce a block used up, are dropped; so is anything still pending after
//! [`TX_TTL`] (a transaction waiting behind a nonce gap that never fills).
//! The pool knows which senders have a transaction that can go into the
//! next block ([`Mempool::has_ready`]), so a proposer does not build empty
//! blocks at full speed for transactions that cannot be included yet.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use deltachain_protocol::{Hash, PublicKey, SignedTransaction, TxError};

/// How far ahead of a sender's committed nonce a transaction may be. A
/// bank's monthly upload comes from one key, and a sender can have no more
/// than this many transactions waiting, so it bounds a bulk import to this
/// many per block: 1,024 held one import to about a thousand rows a second.
/// The mempool's own bound (`[mempool] max_txs`) still caps the total.
pub const MAX_NONCE_GAP: u64 = 32_768;

/// How long a transaction may stay pending before it is dropped.
pub const TX_TTL: Duration = Duration::from_secs(600);

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// Bad bytes, fields, chain id or signature; `code` is the stable code
    /// the API answers with (`undecodable`, `too_large`, `bad_signature`,
    /// `wrong_chain`, `invalid_transaction`).
    #[error("{message}")]
    Invalid {
        /// Stable machine-readable code.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// The node could not read its own state: not the sender's fault.
    #[error("storage: {0}")]
    Storage(String),
    /// A code that fails the GB 32100-2015 check and that no regulator
    /// admitted.
    #[error("{0}")]
    UsccNotAdmitted(String),
    /// The sender is not a member.
    #[error("sender {0} is not a member of this chain")]
    UnknownSender(PublicKey),
    /// The nonce is already used.
    #[error("nonce {got} is stale: the sender's last committed nonce is {committed}")]
    StaleNonce {
        /// Nonce in the transaction.
        got: u64,
        /// Last committed nonce.
        committed: u64,
    },
    /// The nonce is too far ahead.
    #[error("nonce {got} is too far ahead of the sender's last committed nonce {committed}")]
    NonceTooFar {
        /// Nonce in the transaction.
        got: u64,
        /// Last committed nonce.
        committed: u64,
    },
    /// The same transaction is already pending.
    #[error("transaction is already pending")]
    Duplicate,
    /// Another pending transaction uses this nonce.
    #[error("another pending transaction from this sender already uses nonce {0}")]
    NonceTaken(u64),
    /// No room.
    #[error("mempool is full ({0}); retry later")]
    Full(&'static str),
}

impl From<TxError> for AdmitError {
    fn from(e: TxError) -> Self {
        let code = match &e {
            TxError::Decode(_) => "undecodable",
            TxError::TooLarge(_) => "too_large",
            TxError::Invalid(_) => "invalid_transaction",
            TxError::Signature(_) => "bad_signature",
            TxError::WrongChain { .. } => "wrong_chain",
        };
        AdmitError::Invalid {
            code,
            message: e.to_string(),
        }
    }
}

struct Entry {
    tx: SignedTransaction,
    len: usize,
    admitted: Instant,
    gossiped: Instant,
}

/// The pool.
pub struct Mempool {
    max_txs: usize,
    max_bytes: usize,
    bytes: usize,
    entries: BTreeMap<Hash, Entry>,
    by_sender: BTreeMap<PublicKey, BTreeMap<u64, Hash>>,
    /// Senders in the order their first pending transaction arrived.
    senders: VecDeque<PublicKey>,
    /// Each pending sender's last committed nonce, as last learned.
    committed: BTreeMap<PublicKey, u64>,
    /// Counts committed blocks seen, so admission can tell whether the
    /// nonces it read are still current.
    generation: u64,
}

/// A decoded, signature-checked transaction ready for [`Mempool::admit`].
pub struct Checked {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Its hash.
    pub hash: Hash,
    /// Encoded length.
    pub len: usize,
}

/// Decodes and checks raw transactions, verifying signatures as a batch.
/// Runs without the pool's lock: this is where the CPU goes.
pub fn verify(chain_id: &str, raw: &[Vec<u8>]) -> Vec<Result<Checked, AdmitError>> {
    let mut out = decode(chain_id, raw);
    verify_signatures(&mut out);
    out
}

/// Decodes and checks everything that needs neither state nor a signature
/// check: the cheap first step of admission.
pub fn decode(chain_id: &str, raw: &[Vec<u8>]) -> Vec<Result<Checked, AdmitError>> {
    raw.iter()
        .map(|bytes| {
            let tx = SignedTransaction::decode(bytes).map_err(TxError::from)?;
            tx.check_stateless(chain_id, bytes.len())?;
            Ok(Checked {
                hash: deltachain_protocol::crypto::sha256(bytes),
                tx,
                len: bytes.len(),
            })
        })
        .collect()
}

/// Batch-verifies the signatures of the entries still `Ok`, turning bad
/// ones into errors. Run it last: only transactions from members with a
/// usable nonce should cost a signature check.
pub fn verify_signatures(out: &mut [Result<Checked, AdmitError>]) {
    let to_verify: Vec<&SignedTransaction> = out
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|c| &c.tx))
        .collect();
    let results = SignedTransaction::verify_signatures(&to_verify);
    let mut results = results.into_iter();
    for slot in out.iter_mut() {
        if slot.is_ok() {
            if let Some(Err(e)) = results.next() {
                *slot = Err(TxError::Signature(e).into());
            }
        }
    }
}

impl Mempool {
    /// An empty pool with these bounds.
    pub fn new(max_txs: usize, max_bytes: usize) -> Mempool {
        Mempool {
            max_txs,
            max_bytes,
            bytes: 0,
            entries: BTreeMap::new(),
            by_sender: BTreeMap::new(),
            senders: VecDeque::new(),
            committed: BTreeMap::new(),
            generation: 0,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many more transactions fit (by count).
    pub fn room(&self) -> usize {
        self.max_txs.saturating_sub(self.entries.len())
    }

    /// Bytes of pending transactions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The highest nonce a sender has pending, if any.
    pub fn max_pending_nonce(&self, sender: &PublicKey) -> Option<u64> {
        self.by_sender
            .get(sender)
            .and_then(|m| m.keys().next_back().copied())
    }

    /// A pending transaction by hash.
    pub fn get(&self, hash: &Hash) -> Option<&SignedTransaction> {
        self.entries.get(hash).map(|e| &e.tx)
    }

    /// Whether a transaction is pending (its signature was verified).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Admits a checked transaction. `committed_nonce` and `is_member` read
    /// the committed ledger state.
    pub fn admit(
        &mut self,
        c: Checked,
        committed_nonce: u64,
        is_member: bool,
    ) -> Result<Hash, AdmitError> {
        self.precheck(&c, committed_nonce, is_member)?;
        let sender = c.tx.tx.sender;
        let nonce = c.tx.tx.nonce;
        if self
            .by_sender
            .get(&sender)
            .is_some_and(|m| m.contains_key(&nonce))
        {
            return Err(AdmitError::NonceTaken(nonce));
        }
        if self.entries.len() >= self.max_txs {
            return Err(AdmitError::Full("transaction count limit reached"));
        }
        if self.bytes + c.len > self.max_bytes {
            return Err(AdmitError::Full("byte limit reached"));
        }
        let list = self.by_sender.entry(sender).or_default();
        if list.is_empty() {
            self.senders.push_back(sender);
        }
        list.insert(nonce, c.hash);
        let known = self.committed.entry(sender).or_insert(committed_nonce);
        *known = (*known).max(committed_nonce);
        self.bytes += c.len;
        let now = Instant::now();
        self.entries.insert(
            c.hash,
            Entry {
                tx: c.tx,
                len: c.len,
                admitted: now,
                gossiped: now,
            },
        );
        Ok(c.hash)
    }

    /// The checks that need no signature: duplicate, membership, nonce
    /// window. Admission runs them before verifying, so that made-up
    /// senders and replays cost a few reads, not a signature check.
    pub fn precheck(
        &self,
        c: &Checked,
        committed_nonce: u64,
        is_member: bool,
    ) -> Result<(), AdmitError> {
        let sender = c.tx.tx.sender;
        let nonce = c.tx.tx.nonce;
        if self.entries.contains_key(&c.hash) {
            return Err(AdmitError::Duplicate);
        }
        if !is_member {
            return Err(AdmitError::UnknownSender(sender));
        }
        if nonce <= committed_nonce {
            return Err(AdmitError::StaleNonce {
                got: nonce,
                committed: committed_nonce,
            });
        }
        if nonce > committed_nonce + MAX_NONCE_GAP {
            return Err(AdmitError::NonceTooFar {
                got: nonce,
                committed: committed_nonce,
            });
        }
        Ok(())
    }

    /// Up to `max_txs` transactions for a proposal: each sender's in nonce
    /// order, senders interleaved round-robin. The block builder drops any
    /// whose nonce does not follow on.
    pub fn candidates(&self, max_txs: usize) -> Vec<SignedTransaction> {
        let mut iters: Vec<_> = self
            .senders
            .iter()
            .filter_map(|s| self.by_sender.get(s).map(|m| m.values()))
            .collect();
        let mut out = Vec::new();
        while out.len() < max_txs && !iters.is_empty() {
            iters.retain_mut(|it| match it.next() {
                Some(h) if out.len() < max_txs => {
                    out.push(self.entries[h].tx.clone());
                    true
                }
                _ => false,
            });
        }
        out
    }

    /// Drops committed transactions and any pending one whose nonce a block
    /// used up. `committed` lists (hash, sender, nonce) of the block's
    /// transactions. Returns how long each committed transaction we held
    /// waited here.
    pub fn remove_committed(
        &mut self,
        committed: &[(Hash, PublicKey, u64)],
    ) -> Vec<std::time::Duration> {
        self.generation += 1;
        let mut waited = Vec::new();
        let mut highest: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for (hash, sender, nonce) in committed {
            if let Some(e) = self.entries.remove(hash) {
                self.bytes -= e.len;
                waited.push(e.admitted.elapsed());
            }
            let h = highest.entry(*sender).or_insert(0);
            *h = (*h).max(*nonce);
        }
        for (sender, max_nonce) in highest {
            if let Some(known) = self.committed.get_mut(&sender) {
                *known = (*known).max(max_nonce);
            }
            if let Some(list) = self.by_sender.get_mut(&sender) {
                let stale: Vec<u64> = list.range(..=max_nonce).map(|(n, _)| *n).collect();
                for n in stale {
                    if let Some(h) = list.remove(&n) {
                        if let Some(e) = self.entries.remove(&h) {
                            self.bytes -= e.len;
                        }
                    }
                }
                if list.is_empty() {
                    self.by_sender.remove(&sender);
                    self.committed.remove(&sender);
                    self.senders.retain(|s| *s != sender);
                }
            }
        }
        waited
    }

    /// Changes whenever a block's transactions are removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True if some sender's next nonce is pending: a block built now
    /// would not be empty.
    pub fn has_ready(&self) -> bool {
        self.by_sender.iter().any(|(sender, list)| {
            let next = self.committed.get(sender).copied().unwrap_or(0) + 1;
            list.keys().next() == Some(&next)
        })
    }

    /// Drops what has been pending longer than `ttl`; returns how many.
    pub fn expire(&mut self, ttl: Duration) -> usize {
        let now = Instant::now();
        let old: Vec<(Hash, PublicKey, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.admitted) > ttl)
            .map(|(h, e)| (*h, e.tx.tx.sender, e.tx.tx.nonce))
            .collect();
        for (hash, sender, nonce) in &old {
            if let Some(e) = self.entries.remove(hash) {
                self.bytes -= e.len;
            }
            if let Some(list) = self.by_sender.get_mut(sender) {
                list.remove(nonce);
                if list.is_empty() {
                    self.by_sender.remove(sender);
                    self.committed.remove(sender);
                    self.senders.retain(|s| s != sender);
                }
            }
        }
        old.len()
    }

    /// Up to `max` transactions pending for longer than `after` since they
    /// were last gossiped, encoded, to gossip again: one admitted while a
    /// publish failed is otherwise stranded on this node.
    pub fn regossip(&mut self, after: Duration, max: usize) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let mut out = Vec::new();
        for e in self.entries.values_mut() {
            if out.len() >= max {
                break;
            }
            if now.saturating_duration_since(e.gossiped) > after {
                e.gossiped = now;
                out.push(e.tx.encode());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use deltachain_protocol::*;

    use super::*;

    fn tx(seed: u8, nonce: u64) -> Vec<u8> {
        let k = Keypair::from_secret([seed; 32]);
        Transaction {
            chain_id: "c".into(),
            sender: k.public(),
            nonce,
            payload: Payload::IpRelease(IpRelease {
                ip_id: "TM-1".into(),
            }),
        }
        .sign(&k)
        .encode()
    }

    fn admit(pool: &mut Mempool, raw: Vec<u8>, committed: u64) -> Result<Hash, AdmitError> {
        let c = verify("c", &[raw]).pop().unwrap()?;
        pool.admit(c, committed, true)
    }

    /// Gapped transactions do not count as ready and expire; a stranded
    /// one is offered for gossip again.
    #[test]
    fn gaps_are_not_ready_and_old_transactions_expire() {
        let mut pool = Mempool::new(100, 1 << 20);
        admit(&mut pool, tx(1, 3), 0).unwrap();
        assert!(!pool.has_ready(), "nonce 3 waits for 1 and 2");
        admit(&mut pool, tx(2, 1), 0).unwrap();
        assert!(pool.has_ready());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pool.regossip(Duration::from_millis(10), 10).len(), 2);
        assert!(
            pool.regossip(Duration::from_millis(10), 10).is_empty(),
            "just re-sent"
        );
        assert_eq!(pool.expire(Duration::from_millis(5)), 2);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
        assert!(!pool.has_ready());
    }

    #[test]
    fn verify_rejects_garbage_wrong_chain_and_bad_signatures() {
        let mut bad_sig = tx(1, 1);
        let n = bad_sig.len();
        bad_sig[n - 1] ^= 1;
        let other_chain = {
            let k = Keypair::from_secret([1; 32]);
            Transaction {
                chain_id: "other".into(),
                sender: k.public(),
                nonce: 1,
                payload: Payload::IpRelease(IpRelease {
                    ip_id: "TM-1".into(),
                }),
            }
            .sign(&k)
            .encode()
        };
        let res = verify(
            "c",
            &[tx(1, 1), vec![1, 2, 3], bad_sig, other_chain, tx(2, 1)],
        );
        assert!(res[0].is_ok());
        assert!(res[1]
            .as_ref()
            .err()
            .unwrap()
            .to_string()
            .contains("decode"));
        assert!(res[2]
            .as_ref()
            .err()
            .unwrap()
            .to_string()
            .contains("signature"));
        assert!(res[3].as_ref().err().unwrap().to_string().contains("chain"));
        assert!(res[4].is_ok());
    }

    #[test]
    fn nonces_duplicates_and_bounds() {
        let mut pool = Mempool::new(3, 1 << 20);
        admit(&mut pool, tx(1, 5), 4).unwrap();
        assert_eq!(admit(&mut pool, tx(1, 5), 4), Err(AdmitError::Duplicate));
        assert!(matches!(
            admit(&mut pool, tx(1, 4), 4),
            Err(AdmitError::StaleNonce { .. })
        ));
        assert!(matches!(
            admit(&mut pool, tx(1, 5 + MAX_NONCE_GAP), 4),
            Err(AdmitError::NonceTooFar { .. })
        ));
        admit(&mut pool, tx(1, 6), 4).unwrap();
        admit(&mut pool, tx(2, 1), 0).unwrap();
        assert!(matches!(
            admit(&mut pool, tx(3, 1), 0),
            Err(AdmitError::Full(_))
        ));
        let c = verify("c", &[tx(4, 1)]).pop().unwrap().unwrap();
        assert!(matches!(
            pool.admit(c, 0, false),
            Err(AdmitError::UnknownSender(_))
        ));
        assert_eq!(pool.room(), 0, "a full pool has no room");
        let mut small = Mempool::new(100, tx(1, 1).len() + 10);
        admit(&mut small, tx(1, 1), 0).unwrap();
        assert!(matches!(
            admit(&mut small, tx(2, 1), 0),
            Err(AdmitError::Full(_))
        ));
    }

    #[test]
    fn candidates_interleave_senders_in_nonce_order_and_commit_drops() {
        let mut pool = Mempool::new(100, 1 << 20);
        for n in [3, 1, 2] {
            admit(&mut pool, tx(1, n), 0).unwrap();
        }
        admit(&mut pool, tx(2, 1), 0).unwrap();
        let c = pool.candidates(10);
        let order: Vec<(u8, u64)> = c
            .iter()
            .map(|t| {
                (
                    if t.tx.sender == Keypair::from_secret([1; 32]).public() {
                        1
                    } else {
                        2
                    },
                    t.tx.nonce,
                )
            })
            .collect();
        assert_eq!(order, vec![(1, 1), (2, 1), (1, 2), (1, 3)]);
        assert_eq!(pool.candidates(2).len(), 2);
        let first = &c[0];
        // A block committed nonce 2 of sender 1 (from elsewhere): 1 and 2 go.
        pool.remove_committed(&[(first.hash(), first.tx.sender, 2)]);
        assert_eq!(pool.len(), 2);
        assert!(pool.bytes() > 0);
    }
}
