//! Crash safety: a child process commits blocks in a loop and is killed with
//! SIGKILL at random moments; after every kill the store must reopen with a
//! complete, consistent chain (every block whole, tip matching, state equal
//! to a replay from genesis). `DELTACHAIN_CRASH_ROUNDS` sets the number of
//! kills (default 8).

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deltachain_node::storage::Store;
use deltachain_node::testkit::TestChain;
use deltachain_protocol::*;

const CHILD_ENV: &str = "DELTACHAIN_CRASH_CHILD_DIR";

fn credit(chain: &TestChain, who: &str, nonce: u64) -> SignedTransaction {
    let k = chain.member(who);
    Transaction {
        chain_id: chain.genesis.chain_id.clone(),
        sender: k.public(),
        nonce,
        payload: Payload::Credit(Credit {
            enterprise: "914403001922038216".into(),
            kind: CreditKind::Repayment,
            reference: format!("R-{nonce}"),
            amount_fen: Some(nonce * 100),
            currency: "CNY".into(),
            date: Date::parse("2026-02-01").unwrap(),
            rating: None,
            note: Some("scheduled repayment".into()),
        }),
    }
    .sign(k)
}

/// The child: commit blocks of 20 transactions until killed.
#[test]
fn child_commit_loop() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only runs as the crash test's child process.
    };
    let chain = TestChain::new(4);
    let store = Store::open(std::path::Path::new(&dir), &chain.genesis).expect("child opens store");
    loop {
        let mut txs = Vec::new();
        for who in ["bank-shanghai", "bank-nanjing"] {
            let next = store.nonce(&chain.member(who).public()).unwrap() + 1;
            txs.extend((0..10).map(|i| credit(&chain, who, next + i)));
        }
        chain.commit(&store, txs).expect("child commits");
    }
}

#[test]
fn sigkill_at_random_moments_leaves_a_consistent_store() {
    let rounds: usize = std::env::var("DELTACHAIN_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut last_height = 0;
    for round in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(100 + seed % 250);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_commit_loop",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let store = Store::open(dir.path(), &chain.genesis)
            .unwrap_or_else(|e| panic!("round {round}: store does not reopen: {e}"));
        let height = store
            .audit(&chain.genesis)
            .unwrap_or_else(|e| panic!("round {round}: inconsistent after SIGKILL: {e}"));
        assert!(height >= last_height, "committed blocks were lost");
        last_height = height;
    }
    assert!(last_height > 0, "the child never committed a block");
    eprintln!("{rounds} kills, chain at height {last_height}, consistent after each");
}
