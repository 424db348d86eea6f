//! Storage: commits, queries, reopen checks and corruption detection.

use deltachain_protocol::*;

use super::*;
use crate::executor::validate_block;
use crate::testkit::{TestChain, DEMO_MEMBERS};

const ENT: &str = "91350100M000100Y43";

fn loan(chain: &TestChain, who: &str, nonce: u64, reference: &str) -> SignedTransaction {
    let k = chain.member(who);
    Transaction {
        chain_id: chain.genesis.chain_id.clone(),
        sender: k.public(),
        nonce,
        payload: Payload::Credit(Credit {
            enterprise: ENT.into(),
            kind: CreditKind::Loan,
            reference: reference.into(),
            amount_fen: Some(10_000),
            currency: "CNY".into(),
            date: Date::parse("2026-01-05").unwrap(),
            rating: None,
            note: None,
        }),
    }
    .sign(k)
}

#[test]
fn commit_query_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    assert_eq!(store.tip().height, 0);
    let a = loan(&chain, "bank-shanghai", 1, "SH-1");
    let b = loan(&chain, "bank-nanjing", 1, "NJ-1");
    let e1 = chain.commit(&store, vec![a.clone()]).unwrap();
    chain.commit(&store, vec![b.clone()]).unwrap();
    chain.commit(&store, vec![]).unwrap();
    assert_eq!(store.tip().height, 3);
    let loc = store.tx_location(&a.hash()).unwrap().unwrap();
    assert_eq!((loc.height, loc.index), (1, 0));
    assert_eq!(loc.receipt.outcome, Outcome::Applied);
    assert_eq!(store.height_of(&e1.block.hash()).unwrap(), Some(1));
    let (records, total) = store.credit_records(ENT, 0, 10).unwrap();
    assert_eq!(total, 2);
    // Newest first.
    assert_eq!(records[0].record.reference, "NJ-1");
    assert_eq!(records[1].record.reference, "SH-1");
    assert_eq!((records[1].seq, records[1].tx_hash), (0, a.hash()));
    assert_eq!(records[0].reporter, chain.member("bank-nanjing").public());
    // A block reassembled from its stored parts is the block committed.
    let (block, receipts) = store.block_with_receipts(1).unwrap().unwrap();
    assert_eq!(block, e1.block);
    assert_eq!(receipts, e1.outcome.receipts);
    assert_eq!(store.block_hash(1).unwrap(), Some(e1.block.hash()));
    assert_eq!(
        Block::decode(&store.block_bytes(1).unwrap().unwrap(), MAX_BLOCK_BYTES).unwrap(),
        e1.block
    );
    assert_eq!(store.tx_at(1, 0).unwrap().unwrap().0, a);
    assert_eq!(store.tx_at(1, 1).unwrap(), None);
    assert_eq!(store.tx_at(1, TXS_PER_CHUNK).unwrap(), None);
    assert_eq!(store.tx_location(&Hash([9; 32])).unwrap(), None);
    let (page, _) = store.credit_records(ENT, 1, 10).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        store
            .nonce(&chain.member("bank-shanghai").public())
            .unwrap(),
        1
    );
    assert_eq!(store.members(100).unwrap().len(), DEMO_MEMBERS.len());
    let tip = store.tip();
    drop(store);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    assert_eq!(store.tip(), tip);
}

#[test]
fn wrong_genesis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    Store::open(dir.path(), &chain.genesis).unwrap();
    let other = TestChain::new(3);
    let e = Store::open(dir.path(), &other.genesis).err().unwrap();
    assert!(matches!(e, StoreError::WrongGenesis { .. }), "{e}");
}

#[test]
fn a_directory_in_use_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let _held = Store::open(dir.path(), &chain.genesis).unwrap();
    let e = Store::open(dir.path(), &chain.genesis).err().unwrap();
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("another node running"), "{e}");
}

#[test]
fn another_storage_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    {
        let store = Store::open(dir.path(), &chain.genesis).unwrap();
        // A directory from before formats were recorded.
        store.chain.remove(FORMAT).unwrap();
        store.flush().unwrap();
    }
    let e = Store::open(dir.path(), &chain.genesis).err().unwrap();
    assert!(matches!(e, StoreError::WrongFormat { found: 1, .. }), "{e}");
    assert!(e.to_string().contains("sync from its peers"), "{e}");
}

#[test]
fn out_of_order_commit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(1);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    let e = chain.commit(&store, vec![]).unwrap();
    let cert = chain.certify(1, e.block.hash());
    let err = store.commit_block(&e.block, &cert, &e.outcome).unwrap_err();
    assert!(matches!(err, StoreError::OutOfOrder { got: 1, tip: 1 }));
}

/// A block whose stored bytes were altered is detected on open.
#[test]
fn corrupted_tip_block_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    {
        let store = Store::open(dir.path(), &chain.genesis).unwrap();
        chain
            .commit(&store, vec![loan(&chain, "bank-shanghai", 1, "A")])
            .unwrap();
        chain
            .commit(&store, vec![loan(&chain, "bank-shanghai", 2, "B")])
            .unwrap();
        // Flip a byte in the tip block as bit rot would.
        let key = hkey(b'B', 2);
        let mut bytes = store.chain.get(key).unwrap().unwrap().to_vec();
        let n = bytes.len();
        bytes[n - 40] ^= 0xff;
        store.chain.insert(key, bytes).unwrap();
        store.flush().unwrap();
    }
    let e = Store::open(dir.path(), &chain.genesis)
        .err()
        .expect("corruption must be detected");
    let msg = e.to_string();
    assert!(msg.contains("corrupt"), "{msg}");
}

/// A transaction of the tip block altered or lost on disk is detected on
/// open: the block no longer matches its header.
#[test]
fn damaged_tip_transactions_are_detected() {
    for damage in ["flip", "remove"] {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new(4);
        {
            let store = Store::open(dir.path(), &chain.genesis).unwrap();
            // Two chunks; damage the second.
            let txs = (1..=TXS_PER_CHUNK as u64 + 3)
                .map(|n| loan(&chain, "bank-shanghai", n, "A"))
                .collect();
            chain.commit(&store, txs).unwrap();
            let key = xkey(1, 1);
            if damage == "flip" {
                let mut bytes = store.chain.get(key).unwrap().unwrap().to_vec();
                let n = bytes.len();
                bytes[n - 20] ^= 0x01;
                store.chain.insert(key, bytes).unwrap();
            } else {
                store.chain.remove(key).unwrap();
            }
            store.flush().unwrap();
        }
        let e = Store::open(dir.path(), &chain.genesis)
            .err()
            .expect("damage must be detected");
        let msg = e.to_string();
        assert!(
            msg.contains("corrupt") && msg.contains("block 1"),
            "{damage}: {msg}"
        );
    }
}

/// Blocks of every size around the chunk boundaries come back whole, and
/// each transaction is found by hash at its index.
#[test]
fn blocks_round_trip_across_chunk_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    let n = TXS_PER_CHUNK as u64;
    let mut nonce = 0;
    for size in [1, n - 1, n, n + 1, 2 * n, 3 * n + 5] {
        let txs: Vec<_> = (0..size)
            .map(|_| {
                nonce += 1;
                loan(&chain, "bank-shanghai", nonce, "R")
            })
            .collect();
        let e = chain.commit(&store, txs.clone()).unwrap();
        let h = e.block.header.height;
        let (block, receipts) = store.block_with_receipts(h).unwrap().unwrap();
        assert_eq!(block, e.block, "block of {size}");
        assert_eq!(receipts, e.outcome.receipts);
        for (i, tx) in txs.iter().enumerate() {
            let loc = store.tx_location(&tx.hash()).unwrap().unwrap();
            assert_eq!((loc.height, loc.index), (h, i as u32));
            assert_eq!(store.tx_at(h, i as u32).unwrap().unwrap().0, *tx);
        }
        assert_eq!(store.tx_at(h, size as u32).unwrap(), None);
    }
}

#[test]
fn chunk_decoding_rejects_damage() {
    let items = vec![b"abc".to_vec(), Vec::new(), b"de".to_vec()];
    let bytes = encode_chunk(&items);
    let back: Vec<Vec<u8>> = decode_chunk(&bytes)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(back, items);
    for cut in 0..bytes.len() {
        assert!(decode_chunk(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_chunk(&longer).is_err());
    let mut huge = bytes.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_chunk(&huge).is_err());
    let mut long_item = bytes;
    long_item[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_chunk(&long_item).is_err());
}

/// A database whose files were truncated reports an error instead of
/// running on a partial chain.
#[test]
fn truncated_database_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    {
        let store = Store::open(dir.path(), &chain.genesis).unwrap();
        for i in 1..=20 {
            chain
                .commit(&store, vec![loan(&chain, "bank-shanghai", i, "T")])
                .unwrap();
        }
    }
    // Truncate every file in the sled directory to a fraction of its length.
    for entry in walk(dir.path()) {
        let len = std::fs::metadata(&entry).unwrap().len();
        if len > 64 {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&entry)
                .unwrap();
            f.set_len(len / 3).unwrap();
        }
    }
    match Store::open(dir.path(), &chain.genesis) {
        Err(e) => assert!(!e.to_string().is_empty()),
        // sled may recover a consistent prefix of its log; then the tip must
        // still be complete and verified.
        Ok(store) => {
            let tip = store.tip();
            if tip.height > 0 {
                assert_eq!(store.block(tip.height).unwrap().unwrap().hash(), tip.hash);
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn validation_catches_a_forged_state_root() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    chain.commit(&store, vec![]).unwrap();
    let tip = store.tip();
    let executed = crate::executor::build_block(
        &store,
        &chain.genesis,
        &tip,
        store.cert(1).unwrap(),
        chain.validators[0].public(),
        tip.time_ms + 10,
        vec![loan(&chain, "bank-shanghai", 1, "X")],
    )
    .unwrap();
    let ok = validate_block(&store, &chain.genesis, &tip, &executed.block, None, &|_| {
        false
    })
    .unwrap();
    assert_eq!(ok.outcome.state_root, executed.outcome.state_root);
    let mut forged = executed.block.clone();
    forged.header.state_root = Hash([7; 32]);
    let e = validate_block(&store, &chain.genesis, &tip, &forged, None, &|_| false).unwrap_err();
    assert!(e.to_string().contains("state_root"), "{e}");
    let mut no_cert = executed.block.clone();
    no_cert.last_commit = None;
    no_cert.header.last_commit_hash = Hash::ZERO;
    assert!(validate_block(&store, &chain.genesis, &tip, &no_cert, None, &|_| false).is_err());
    let mut bad_sig = executed.block.clone();
    std::sync::Arc::make_mut(&mut bad_sig.txs)[0].signature.0[3] ^= 1;
    bad_sig.header.tx_root = merkle::root(&bad_sig.tx_hashes());
    let e = validate_block(&store, &chain.genesis, &tip, &bad_sig, None, &|_| false).unwrap_err();
    assert!(e.to_string().contains("signature"), "{e}");
}

/// Proofs at every height inside the window verify against that height's
/// header; pruning removes what only older heights need, in bounded chunks,
/// without touching the present; heights outside the window are refused.
#[test]
fn proofs_inside_the_window_and_pruning_outside_it() {
    use deltachain_protocol::state::CreditCommitment;
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    let key = keys::credit_commitment(ENT);
    for n in 1..=12u64 {
        chain
            .commit(
                &store,
                vec![loan(&chain, "bank-shanghai", n, &format!("SH-{n}"))],
            )
            .unwrap();
    }
    let check = |h: u64, window: Option<u64>| -> Result<u64, ProofUnavailable> {
        let (value, proof) = store.prove(&key, h, window)?;
        let root = store.header(h).unwrap().unwrap().state_root;
        proof.verify(&root, &key, value.as_deref()).unwrap();
        let c: CreditCommitment = codec::decode(&value.unwrap(), 1024, "c").unwrap();
        Ok(c.count)
    };
    for h in 1..=12 {
        assert_eq!(check(h, None).unwrap(), h, "height {h}");
    }
    // Absence: an enterprise without records.
    let other = keys::credit_commitment("91110108551385082Q");
    let (value, proof) = store.prove(&other, 12, None).unwrap();
    assert_eq!(value, None);
    let root = store.header(12).unwrap().unwrap().state_root;
    proof.verify(&root, &other, None).unwrap();

    assert!(matches!(
        check(3, Some(4)),
        Err(ProofUnavailable::Pruned { .. })
    ));
    assert!(matches!(
        check(13, None),
        Err(ProofUnavailable::Future { .. })
    ));
    let before = store.chain.scan_prefix(b"J").count();
    let mut rounds = 0;
    while store.prune_tree(8, 7).unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 1000);
    }
    assert!(rounds > 1, "pruning went in bounded chunks");
    assert!(store.chain.scan_prefix(b"J").count() < before);
    assert_eq!(store.oldest_state_version().unwrap(), 8);
    let e = check(7, None).unwrap_err();
    assert!(e.to_string().contains("outside"), "{e}");
    for h in 8..=12 {
        assert_eq!(check(h, None).unwrap(), h, "height {h} after pruning");
    }
    // The present is intact: the next block builds on the pruned tree, and
    // the store reopens with its checks.
    chain
        .commit(&store, vec![loan(&chain, "bank-shanghai", 13, "SH-13")])
        .unwrap();
    assert_eq!(check(13, Some(5)).unwrap(), 13);
    drop(store);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    assert_eq!(store.audit(&chain.genesis).unwrap(), 13);
}

/// Past values are found whatever happened to their leaves since: keys
/// that changed (the value is in the version log), keys that did not (the
/// value is the present one) and keys whose leaf a neighbour's insertion
/// moved deeper (the value is older than the leaf).
#[test]
fn every_key_proves_at_every_height_as_the_tree_grows() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(4);
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    let ipo = chain.member("ipo-hangzhou");
    let bank = chain.member("bank-shanghai");
    let (mut ipo_nonce, mut bank_nonce) = (0u64, 0u64);
    let mut ids = Vec::new();
    for block in 0..8u32 {
        let mut txs = Vec::new();
        for i in 0..40u32 {
            let id = format!("SR-{block}-{i}");
            ipo_nonce += 1;
            txs.push(
                Transaction {
                    chain_id: chain.genesis.chain_id.clone(),
                    sender: ipo.public(),
                    nonce: ipo_nonce,
                    payload: Payload::IpRegister(IpRegister {
                        ip_id: id.clone(),
                        kind: IpKind::SoftwareCopyright,
                        title: "信用评分系统".into(),
                        owner: ENT.into(),
                        registered_on: Date::parse("2024-01-01").unwrap(),
                    }),
                }
                .sign(ipo),
            );
            ids.push(id);
        }
        // Pledge some of the earlier ones: their values change.
        for id in ids.iter().skip(block as usize * 3).take(3) {
            bank_nonce += 1;
            txs.push(
                Transaction {
                    chain_id: chain.genesis.chain_id.clone(),
                    sender: bank.public(),
                    nonce: bank_nonce,
                    payload: Payload::IpPledge(IpPledge {
                        ip_id: id.clone(),
                        amount_fen: 1_000_000,
                        contract: format!("PL-{id}"),
                        until: Date::parse("2031-01-01").unwrap(),
                    }),
                }
                .sign(bank),
            );
        }
        chain.commit(&store, txs).unwrap();
    }
    for h in 1..=8u64 {
        let root = store.header(h).unwrap().unwrap().state_root;
        for id in &ids {
            let key = keys::ip(id);
            let (value, proof) = store.prove(&key, h, None).unwrap();
            proof.verify(&root, &key, value.as_deref()).unwrap();
            let registered_at: u64 = id[3..].split('-').next().unwrap().parse::<u64>().unwrap() + 1;
            assert_eq!(value.is_some(), registered_at <= h, "{id} at {h}");
        }
    }
}
