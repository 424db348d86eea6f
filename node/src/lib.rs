//! # deltachain-node
//!
//! A Deltachain validator. The pieces, from the inside out:
//!
//! * [`ledger`]: deterministic execution of blocks against state (no I/O).
//! * [`consensus`]: Tendermint BFT as a pure state machine (no I/O).
//! * [`storage`]: sled: blocks, certificates, receipts, state, indexes, WAL.
//! * [`mempool`]: bounded pool of verified transactions.
//! * [`network`]: libp2p gossip, block sync and the peer allowlist.
//! * [`api`]: the HTTP/JSON API, server-sent events and metrics; signed
//!   requests and who may read what ([`api::auth`], [`api::access`]).
//! * [`audit`]: the query audit trail, from the node's outbox to the chain.
//! * [`node`]: the event loop that wires them together.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod config;
pub mod consensus;
pub mod devnet;
pub mod executor;
pub mod ledger;
pub mod lograte;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod node;
pub mod signstate;
pub mod storage;
pub mod testkit;
