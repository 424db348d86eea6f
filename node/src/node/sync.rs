//! Block sync: a node that is behind asks its peers for their tips and
//! fetches committed blocks with their certificates, verifying each
//! certificate and re-executing each block before committing it.
//!
//! Peers are not trusted: a tip is a claim, and the sync target rises only
//! to a height that f+1 peers claim or that consensus saw certified; a peer
//! that answers with less than it claimed, or with a bad block, is not
//! asked again for a while; requests take turns among the peers that have
//! what we lack.

use std::time::{Duration, Instant};

use deltachain_protocol::{one_third_plus, Block, Height, MAX_BLOCK_BYTES};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::{Internal, Loop, STALL};
use crate::consensus::Input;
use crate::executor::{self, ValidateError};
use crate::network::{self, SyncRequest, SyncResponse, SyncedBlock};
use crate::storage::Store;

/// Answers a peer's sync request from our store.
/// `lie` is for the byzantine tests: claim an endless chain, give nothing.
pub(super) fn serve_sync(store: &Store, request: &SyncRequest, lie: bool) -> SyncResponse {
    if lie {
        return match request {
            SyncRequest::Status => SyncResponse::Status {
                height: u64::MAX,
                hash: deltachain_protocol::Hash([0xEE; 32]),
            },
            SyncRequest::Blocks { .. } => SyncResponse::Blocks(Vec::new()),
        };
    }
    match *request {
        SyncRequest::Status => {
            let tip = store.tip();
            SyncResponse::Status {
                height: tip.height,
                hash: tip.hash,
            }
        }
        SyncRequest::Blocks { from, to } => {
            let tip = store.tip().height;
            if from == 0 || from > to {
                return SyncResponse::Error(format!("bad range {from}..={to}"));
            }
            let to = to
                .min(tip)
                .min(from + network::codec::MAX_BLOCKS_PER_RESPONSE - 1);
            let mut blocks = Vec::new();
            let mut bytes = 0usize;
            for h in from..=to {
                let (Ok(Some(block)), Ok(Some(cert))) = (store.block_bytes(h), store.cert(h))
                else {
                    break;
                };
                bytes += block.len();
                if !blocks.is_empty() && bytes > network::codec::MAX_RESPONSE_BYTES / 2 {
                    break;
                }
                blocks.push(SyncedBlock { block, cert });
            }
            SyncResponse::Blocks(blocks)
        }
    }
}

impl Loop {
    pub(super) fn request_tip(&self, peer: PeerId) {
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            if let Ok(SyncResponse::Status { height, .. }) =
                net.request(peer, SyncRequest::Status).await
            {
                let _ = internal.send(Internal::PeerTip(peer, height)).await;
            }
        });
    }

    pub(super) fn poll_peers(&mut self) {
        for peer in self.connected.clone() {
            self.request_tip(peer);
        }
        let now = Instant::now();
        self.bad_peers.retain(|_, until| *until > now);
        if !self.sync_in_flight && self.sync_target > self.shared.store.tip().height {
            self.start_sync();
        }
    }

    pub(super) fn start_sync(&mut self) {
        let tip = self.shared.store.tip().height;
        if self.sync_in_flight || self.sync_target <= tip {
            return;
        }
        // Take turns among the peers that claim blocks we lack, so one
        // peer that answers slowly or with less than it claimed cannot hold
        // the node back.
        let candidates: Vec<PeerId> = self
            .peer_tips
            .iter()
            .filter(|(p, h)| **h > tip && !self.bad_peers.contains_key(*p))
            .map(|(p, _)| *p)
            .collect();
        if candidates.is_empty() {
            return; // Peer tips arrive with the next poll.
        }
        self.sync_turn = self.sync_turn.wrapping_add(1);
        let peer = candidates[self.sync_turn % candidates.len()];
        let to = self.sync_target.min(self.peer_tips[&peer]);
        self.sync_in_flight = true;
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            let r = net
                .request(peer, SyncRequest::Blocks { from: tip + 1, to })
                .await;
            let _ = internal.send(Internal::SyncBlocks(peer, r)).await;
        });
    }

    /// A peer's claimed tip. A claim is not evidence: the sync target rises
    /// only to a height that f+1 peers claim (at least one of them honest
    /// when they are validators), or that consensus saw certified. One peer
    /// claiming `u64::MAX` moves nothing.
    pub(super) fn on_peer_tip(&mut self, peer: PeerId, height: Height) {
        if self.bad_peers.contains_key(&peer) {
            return;
        }
        self.peer_tips.insert(peer, height);
        let Some(agreed) = self.agreed_tip() else {
            return;
        };
        // A gap of one height is consensus at work; more means we are
        // behind, and so does a gap of one that lasts.
        let tip = self.shared.store.tip().height;
        let stalled = self.last_commit_at.elapsed() > STALL;
        if (agreed > tip + 1 || (agreed > tip && stalled)) && agreed > self.sync_target {
            self.sync_target = agreed;
            self.start_sync();
        }
    }

    /// The highest height that at least f+1 peers in good standing claim.
    fn agreed_tip(&self) -> Option<Height> {
        let need = one_third_plus(self.shared.genesis.validators.len());
        let mut claims: Vec<Height> = self
            .peer_tips
            .iter()
            .filter(|(p, _)| !self.bad_peers.contains_key(*p))
            .map(|(_, h)| *h)
            .collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        claims.get(need - 1).copied()
    }

    /// Marks a peer as not to be asked for a while, and forgets its claim.
    /// The target stays: it never exceeded what an honest peer claimed or
    /// consensus saw certified.
    fn distrust(&mut self, peer: PeerId, for_: Duration) {
        self.bad_peers.insert(peer, Instant::now() + for_);
        self.peer_tips.remove(&peer);
    }

    pub(super) async fn on_sync_blocks(
        &mut self,
        peer: PeerId,
        result: Result<SyncResponse, String>,
    ) -> anyhow::Result<()> {
        self.sync_in_flight = false;
        let blocks = match result {
            Ok(SyncResponse::Blocks(b)) => b,
            Ok(other) => {
                warn!(%peer, ?other, "unexpected sync response");
                self.distrust(peer, Duration::from_secs(30));
                return Ok(());
            }
            Err(e) => {
                debug!(%peer, error = %e, "sync request failed");
                self.bad_peers
                    .insert(peer, Instant::now() + Duration::from_secs(5));
                return Ok(());
            }
        };
        let before = self.shared.store.tip().height;
        if blocks.is_empty() && self.peer_tips.get(&peer).is_some_and(|h| *h > before) {
            // It claimed blocks it does not give.
            warn!(%peer, claimed = self.peer_tips[&peer], ours = before,
                "peer answered a sync request with no blocks below the tip it claimed; asking others");
            self.distrust(peer, Duration::from_secs(60));
        }
        for synced in blocks {
            if let Err(reason) = self.apply_synced(synced)? {
                warn!(%peer, %reason, "peer sent an invalid block over sync; ignoring it and the peer for a while");
                self.distrust(peer, Duration::from_secs(60));
                break;
            }
        }
        let after = self.shared.store.tip().height;
        if after > before {
            let mut outs = self.machine.step(Input::Synced { height: after });
            let store = &self.shared.store;
            if let (Some(block), Some(cert)) = (store.block(after)?, store.cert(after)?) {
                self.machine.set_last_decision(block, cert);
            }
            // Re-send what the new height needs now that peers can be helped too.
            outs.extend(self.machine.step(Input::Rebroadcast));
            self.carry_out(outs).await?;
        }
        self.update_status();
        self.start_sync();
        Ok(())
    }

    /// Verifies and commits one synced block. The inner error is the
    /// peer's fault (bad block or certificate); the outer one is ours
    /// (storage) and stops the node.
    fn apply_synced(&mut self, synced: SyncedBlock) -> anyhow::Result<Result<(), String>> {
        let store = self.shared.store.clone();
        let tip = store.tip();
        let block = match Block::decode(&synced.block, MAX_BLOCK_BYTES) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let height = tip.height + 1;
        let hash = block.hash();
        if let Err(e) = synced.cert.verify(
            &self.shared.genesis.chain_id,
            height,
            &hash,
            &self.shared.genesis.validator_keys(),
        ) {
            return Ok(Err(format!("block {height}: {e}")));
        }
        let executed = match executor::validate_block(
            &store,
            &self.shared.genesis,
            &tip,
            &block,
            None,
            // The certificate proves a quorum validated these transactions,
            // and the header's tx_root pins them: their signatures need no
            // second check here. Execution still recomputes the state root.
            &|_| true,
        ) {
            Ok(e) => e,
            Err(ValidateError::Invalid(e)) => return Ok(Err(format!("block {height}: {e}"))),
            Err(ValidateError::Store(e)) => return Err(e.into()),
        };
        self.commit(executed, &synced.cert, true)?;
        Ok(Ok(()))
    }
}
