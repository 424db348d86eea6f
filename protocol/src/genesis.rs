//! The genesis file: the network's constitution.
//!
//! `genesis.json` fixes the chain id, the validators (whose keys are also
//! their libp2p identities), the founding members and the consensus
//! parameters. Its hash (of the canonical binary encoding) names the
//! network: nodes with different genesis hashes refuse each other.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey};
use crate::codec;
use crate::crypto::{self, sha256};
use crate::time;
use crate::types::{Roles, MAX_ID_CHARS, MAX_TX_BYTES};
use crate::validate::{self, ValidationError};

/// A validator: one per city data center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Short name, e.g. `shanghai`.
    pub name: String,
    /// City of the data center.
    pub city: String,
    /// Consensus key and libp2p identity.
    pub public_key: PublicKey,
    /// Where peers reach it, a libp2p multiaddr like `/ip4/10.0.0.1/tcp/7170`.
    pub p2p_addr: String,
}

/// A founding member organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Unique name, e.g. `bank-shanghai`.
    pub name: String,
    /// Its transaction-signing key.
    pub public_key: PublicKey,
    /// What it may do.
    pub roles: Roles,
    /// City it reports from.
    #[serde(default)]
    pub city: String,
    /// Public-record categories, for a `data_provider`.
    #[serde(default)]
    pub categories: crate::registry::Categories,
}

/// Consensus timing and block limits. Timeouts grow linearly with the round
/// (`base + round × delta`) up to `timeout_max_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusParams {
    /// Base wait for a proposal.
    pub timeout_propose_ms: u64,
    /// Base wait after a mixed prevote quorum.
    pub timeout_prevote_ms: u64,
    /// Base wait after a mixed precommit quorum.
    pub timeout_precommit_ms: u64,
    /// Added per round to each timeout.
    pub timeout_delta_ms: u64,
    /// Cap on any round timeout.
    pub timeout_max_ms: u64,
    /// Pause after a commit, for late precommits and new transactions.
    pub timeout_commit_ms: u64,
    /// Longest a proposer waits for transactions before proposing an empty block.
    pub max_block_interval_ms: u64,
    /// Largest encoded block.
    pub max_block_bytes: u64,
    /// Most transactions in a block.
    pub max_block_txs: u32,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            timeout_propose_ms: 1000,
            timeout_prevote_ms: 500,
            timeout_precommit_ms: 500,
            timeout_delta_ms: 500,
            timeout_max_ms: 30_000,
            timeout_commit_ms: 100,
            max_block_interval_ms: 1000,
            max_block_bytes: 8 * 1024 * 1024,
            max_block_txs: 10_000,
        }
    }
}

impl ConsensusParams {
    /// Timeout for a step at a round: `base + round × delta`, capped.
    pub fn timeout_ms(&self, base_ms: u64, round: u32) -> u64 {
        base_ms
            .saturating_add(self.timeout_delta_ms.saturating_mul(round as u64))
            .min(self.timeout_max_ms)
    }
}

/// An enterprise key bound at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseInfo {
    /// The enterprise's USCC.
    pub uscc: String,
    /// Its key.
    pub public_key: PublicKey,
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Network name, mixed into every signature.
    pub chain_id: String,
    /// Start of the chain (RFC 3339 UTC in JSON, milliseconds on the wire).
    #[serde(with = "rfc3339_ms")]
    pub genesis_time: u64,
    /// The validators, in index order.
    pub validators: Vec<ValidatorInfo>,
    /// Founding members.
    pub members: Vec<MemberInfo>,
    /// Enterprise keys bound from the start (demo networks; a production
    /// network binds them with `enterprise_key` transactions).
    #[serde(default)]
    pub enterprises: Vec<EnterpriseInfo>,
    /// Consensus parameters.
    pub params: ConsensusParams,
    /// Ledger rules fixed for the network.
    #[serde(default)]
    pub rules: LedgerRules,
}

/// Time limits of the ledger's rules, the same on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRules {
    /// How long a reporter has to answer an objection, in seconds of block
    /// time: 20 days (the credit-reporting regulation's limit) unless a
    /// test network shortens it.
    pub objection_answer_secs: u64,
}

impl Default for LedgerRules {
    fn default() -> Self {
        LedgerRules {
            objection_answer_secs: 20 * 24 * 3600,
        }
    }
}

mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&crate::time::format_unix_ms(*ms))
        } else {
            s.serialize_u64(*ms)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            crate::time::parse_rfc3339_ms(&s).map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d)
        }
    }
}

/// Most validators a genesis may list (indices are `u16`, and each block
/// carries a certificate of up to this many signatures).
pub const MAX_VALIDATORS: usize = 128;
/// Most founding members.
pub const MAX_GENESIS_MEMBERS: usize = 10_000;

/// Why a genesis file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not valid JSON or wrong shape; serde's message names the field and line.
    #[error("genesis is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A field has a bad value.
    #[error("genesis {0}")]
    Invalid(#[from] ValidationError),
}

impl Genesis {
    /// Parses and validates `genesis.json`.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let g: Genesis = serde_json::from_str(text)?;
        g.validate()?;
        Ok(g)
    }

    /// Pretty JSON, as written to disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serializes")
    }

    /// Checks the whole document.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::identifier("chain_id", &self.chain_id, MAX_ID_CHARS)?;
        if self.validators.is_empty() || self.validators.len() > MAX_VALIDATORS {
            return Err(ValidationError::new(
                "validators",
                format!(
                    "need 1 to {MAX_VALIDATORS} validators, got {}",
                    self.validators.len()
                ),
            ));
        }
        for (i, v) in self.validators.iter().enumerate() {
            validate::identifier("validators[].name", &v.name, MAX_ID_CHARS)?;
            validate::text("validators[].city", &v.city, MAX_ID_CHARS, true)?;
            validate::text("validators[].p2p_addr", &v.p2p_addr, 256, true)?;
            crypto::check_public_key(&v.public_key)
                .map_err(|e| ValidationError::new("validators[].public_key", e.to_string()))?;
            if self.validators[..i]
                .iter()
                .any(|o| o.public_key == v.public_key || o.name == v.name)
            {
                return Err(ValidationError::new(
                    "validators",
                    format!("validator {:?} appears twice (same name or key)", v.name),
                ));
            }
        }
        if self.members.len() > MAX_GENESIS_MEMBERS {
            return Err(ValidationError::new("members", "too many members"));
        }
        let mut names: Vec<&str> = Vec::with_capacity(self.members.len());
        let mut keys: Vec<&PublicKey> = Vec::with_capacity(self.members.len());
        for m in &self.members {
            validate::reference("members[].name", &m.name, MAX_ID_CHARS)?;
            crypto::check_public_key(&m.public_key)
                .map_err(|e| ValidationError::new("members[].public_key", e.to_string()))?;
            if m.roles.is_empty() {
                return Err(ValidationError::new(
                    "members[].roles",
                    format!("member {:?} has no roles", m.name),
                ));
            }
            validate::text("members[].city", &m.city, MAX_ID_CHARS, false)?;
            names.push(&m.name);
            keys.push(&m.public_key);
        }
        names.sort_unstable();
        keys.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) || keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(ValidationError::new(
                "members",
                "two members share a name or a key",
            ));
        }
        if self.enterprises.len() > MAX_GENESIS_MEMBERS {
            return Err(ValidationError::new("enterprises", "too many enterprises"));
        }
        let mut usccs: Vec<&str> = Vec::with_capacity(self.enterprises.len());
        for e in &self.enterprises {
            validate::uscc("enterprises[].uscc", &e.uscc)?;
            crypto::check_public_key(&e.public_key)
                .map_err(|e| ValidationError::new("enterprises[].public_key", e.to_string()))?;
            if keys.binary_search(&&e.public_key).is_ok() {
                return Err(ValidationError::new(
                    "enterprises[].public_key",
                    format!("enterprise {} uses a member's key", e.uscc),
                ));
            }
            usccs.push(&e.uscc);
            keys.push(&e.public_key);
            keys.sort_unstable();
        }
        usccs.sort_unstable();
        if usccs.windows(2).any(|w| w[0] == w[1]) || keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(ValidationError::new(
                "enterprises",
                "two enterprises share a USCC or a key",
            ));
        }
        let p = &self.params;
        for (field, v) in [
            ("params.timeout_propose_ms", p.timeout_propose_ms),
            ("params.timeout_prevote_ms", p.timeout_prevote_ms),
            ("params.timeout_precommit_ms", p.timeout_precommit_ms),
            ("params.timeout_max_ms", p.timeout_max_ms),
            ("params.max_block_interval_ms", p.max_block_interval_ms),
        ] {
            if v == 0 || v > 3_600_000 {
                return Err(ValidationError::new(
                    field,
                    "must be between 1 ms and one hour",
                ));
            }
        }
        if p.max_block_bytes < (MAX_TX_BYTES as u64) * 2
            || p.max_block_bytes > crate::types::MAX_BLOCK_BYTES as u64 / 2
        {
            return Err(ValidationError::new(
                "params.max_block_bytes",
                format!(
                    "must be between 8 KiB and {} bytes",
                    crate::types::MAX_BLOCK_BYTES / 2
                ),
            ));
        }
        if p.max_block_txs == 0 || p.max_block_txs > 100_000 {
            return Err(ValidationError::new(
                "params.max_block_txs",
                "must be between 1 and 100000",
            ));
        }
        if self.rules.objection_answer_secs == 0
            || self.rules.objection_answer_secs > 366 * 24 * 3600
        {
            return Err(ValidationError::new(
                "rules.objection_answer_secs",
                "must be between 1 second and a year",
            ));
        }
        if self.genesis_time == 0 {
            return Err(ValidationError::new("genesis_time", "must be after 1970"));
        }
        let _ = time::format_unix_ms(self.genesis_time);
        Ok(())
    }

    /// The network's identity: sha256 of the canonical encoding.
    pub fn hash(&self) -> Hash {
        sha256(&codec::encode(self))
    }

    /// Validator public keys in index order.
    pub fn validator_keys(&self) -> Vec<PublicKey> {
        self.validators.iter().map(|v| v.public_key).collect()
    }

    /// Hash of the validator set, as in block headers.
    pub fn validators_hash(&self) -> Hash {
        sha256(&codec::encode(&self.validator_keys()))
    }
}
