//! Helpers for tests and benchmarks: a genesis with known keys, and a way to
//! commit blocks with valid certificates without running consensus.

use deltachain_protocol::{
    Categories, CommitCertificate, CommitSig, ConsensusParams, Genesis, Keypair, LedgerRules,
    MemberInfo, PublicCategory, Role, Roles, SignedTransaction, ValidatorInfo, Vote, VoteKind,
};

use crate::executor::{build_block, Executed};
use crate::storage::{Store, StoreError};

/// A demo member: name, roles, city and (for data providers) categories.
pub struct DemoMember {
    /// Unique name (also the key file's name).
    pub name: &'static str,
    /// Roles.
    pub roles: &'static [Role],
    /// City it reports from.
    pub city: &'static str,
    /// Public-record categories (data providers).
    pub categories: &'static [PublicCategory],
}

impl DemoMember {
    /// Its genesis entry with `key`.
    pub fn info(&self, key: &Keypair) -> MemberInfo {
        MemberInfo {
            name: self.name.to_string(),
            public_key: key.public(),
            roles: Roles::from_list(self.roles),
            city: self.city.to_string(),
            categories: Categories::from_list(self.categories),
        }
    }
}

const fn demo(
    name: &'static str,
    roles: &'static [Role],
    city: &'static str,
    categories: &'static [PublicCategory],
) -> DemoMember {
    DemoMember {
        name,
        roles,
        city,
        categories,
    }
}

/// Demo members, shared by `dev`, `testnet` and tests. New ones go at the
/// end: tests derive keys from the position.
pub const DEMO_MEMBERS: &[DemoMember] = &[
    demo(
        "bank-shanghai",
        &[Role::CreditReporter, Role::Lender],
        "上海",
        &[],
    ),
    demo(
        "bank-nanjing",
        &[Role::CreditReporter, Role::Lender],
        "南京",
        &[],
    ),
    demo(
        "bank-hefei",
        &[Role::CreditReporter, Role::Lender],
        "合肥",
        &[],
    ),
    demo("ipo-hangzhou", &[Role::IpRegistrar], "杭州", &[]),
    demo("regulator", &[Role::Regulator], "上海", &[]),
    demo("amr-shanghai", &[Role::EnterpriseRegistrar], "上海", &[]),
    demo(
        "bank-hangzhou",
        &[Role::CreditReporter, Role::Lender],
        "杭州",
        &[],
    ),
    demo("scf-platform", &[Role::ReceivablesRegistrar], "上海", &[]),
    demo(
        "tax-shanghai",
        &[Role::DataProvider],
        "上海",
        &[
            PublicCategory::TaxGrade,
            PublicCategory::TaxArrears,
            PublicCategory::SocialInsurance,
            PublicCategory::HousingFund,
            PublicCategory::Utilities,
        ],
    ),
    demo(
        "court-hefei",
        &[Role::DataProvider],
        "合肥",
        &[
            PublicCategory::CourtJudgment,
            PublicCategory::Enforcement,
            PublicCategory::DishonestDebtor,
            PublicCategory::AdminPenalty,
        ],
    ),
];

/// The demo enterprises (USCCs) whose keys `dev` and `testnet` bind at
/// genesis.
pub const DEMO_ENTERPRISES: &[&str] = &["91350100M000100Y43", "91110108551385082Q"];

/// A network with deterministic keys.
pub struct TestChain {
    /// The genesis.
    pub genesis: Genesis,
    /// Validator keys in index order.
    pub validators: Vec<Keypair>,
    /// Member keys in [`DEMO_MEMBERS`] order.
    pub members: Vec<Keypair>,
}

impl TestChain {
    /// `n` validators and the demo members, keys derived from small seeds.
    pub fn new(n: usize) -> TestChain {
        let validators: Vec<Keypair> = (0..n)
            .map(|i| Keypair::from_secret([100 + i as u8; 32]))
            .collect();
        let members: Vec<Keypair> = (0..DEMO_MEMBERS.len())
            .map(|i| Keypair::from_secret([1 + i as u8; 32]))
            .collect();
        let genesis = Genesis {
            chain_id: "deltachain-test".into(),
            genesis_time: 1_795_000_000_000,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorInfo {
                    name: format!("v{i}"),
                    city: format!("City {i}"),
                    public_key: k.public(),
                    p2p_addr: format!("/ip4/127.0.0.1/tcp/{}", 17000 + i),
                })
                .collect(),
            members: DEMO_MEMBERS
                .iter()
                .zip(&members)
                .map(|(m, k)| m.info(k))
                .collect(),
            enterprises: Vec::new(),
            params: ConsensusParams::default(),
            rules: LedgerRules::default(),
        };
        TestChain {
            genesis,
            validators,
            members,
        }
    }

    /// A member's key by name.
    pub fn member(&self, name: &str) -> &Keypair {
        let i = DEMO_MEMBERS
            .iter()
            .position(|m| m.name == name)
            .expect("demo member");
        &self.members[i]
    }

    /// A certificate signed by every validator.
    pub fn certify(&self, height: u64, block_hash: deltachain_protocol::Hash) -> CommitCertificate {
        CommitCertificate {
            height,
            round: 0,
            block_hash,
            signatures: self
                .validators
                .iter()
                .enumerate()
                .map(|(i, k)| CommitSig {
                    validator: i as u16,
                    signature: Vote {
                        height,
                        round: 0,
                        kind: VoteKind::Precommit,
                        block: Some(block_hash),
                        validator: i as u16,
                    }
                    .sign(k, &self.genesis.chain_id)
                    .signature,
                })
                .collect(),
        }
    }

    /// Builds, certifies and commits the next block with `txs`.
    pub fn commit(
        &self,
        store: &Store,
        txs: Vec<SignedTransaction>,
    ) -> Result<Executed, StoreError> {
        let tip = store.tip();
        let last_commit = if tip.height == 0 {
            None
        } else {
            store.cert(tip.height)?
        };
        let proposer = self.validators[(tip.height as usize + 1) % self.validators.len()].public();
        let executed = build_block(
            store,
            &self.genesis,
            &tip,
            last_commit,
            proposer,
            tip.time_ms + 1000,
            txs,
        )
        .expect("test block builds");
        let cert = self.certify(executed.block.header.height, executed.block.hash());
        store.commit_block(&executed.block, &cert, &executed.outcome)?;
        Ok(executed)
    }
}
