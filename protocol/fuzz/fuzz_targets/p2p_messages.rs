//! Everything a peer sends: consensus gossip (then fed to a consensus
//! machine of four validators, which must judge it without panicking),
//! transaction batches, block-sync requests and responses. Whatever
//! decodes must re-encode to the same bytes.
#![no_main]
use std::sync::OnceLock;

use deltachain_node::consensus::{Config, Consensus, Mutation};
use deltachain_node::network::codec::{SyncRequest, SyncResponse};
use deltachain_node::node::{decode_consensus_gossip, decode_tx_gossip};
use deltachain_protocol::{codec, ConsensusParams, Keypair, SignedTransaction};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static [Keypair] {
    static KEYS: OnceLock<Vec<Keypair>> = OnceLock::new();
    KEYS.get_or_init(|| (1..=4).map(|i| Keypair::from_secret([i; 32])).collect())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(env) = decode_consensus_gossip(rest) {
                assert_eq!(codec::encode(&env), rest);
                let cfg = Config {
                    chain_id: "fuzz".into(),
                    validators: keys().iter().map(|k| k.public()).collect(),
                    params: ConsensusParams::default(),
                    mutation: Mutation::None,
                };
                let mut c = Consensus::new(cfg, keys()[0].clone(), 1, Vec::new());
                let _ = c.start();
                let _ = c.on_gossip(env.msg);
            }
        }
        1 => {
            if let Some(batch) = decode_tx_gossip(rest) {
                for tx in batch {
                    if let Ok(t) = SignedTransaction::decode(&tx) {
                        assert_eq!(t.encode(), tx);
                    }
                }
            }
        }
        2 => {
            if let Ok(r) = codec::decode::<SyncRequest>(rest, 1 << 16, "sync request") {
                assert_eq!(codec::encode(&r), rest);
            }
        }
        _ => {
            if let Ok(r) = codec::decode::<SyncResponse>(rest, 1 << 24, "sync response") {
                assert_eq!(codec::encode(&r), rest);
            }
        }
    }
});
