//! Executing and committing a block of 1,000 credit records: the cost of the
//! ledger plus one atomic sled batch and flush.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use deltachain_node::executor::{build_block, validate_block};
use deltachain_node::storage::Store;
use deltachain_node::testkit::TestChain;
use deltachain_protocol::*;

const N: u64 = 1000;

fn txs(chain: &TestChain, start_nonce: u64) -> Vec<SignedTransaction> {
    let k = chain.member("bank-shanghai");
    let ents = [
        "91350100M000100Y43",
        "91110000802100433B",
        "91110108551385082Q",
        "914403001922038216",
    ];
    (0..N)
        .map(|i| {
            Transaction {
                chain_id: chain.genesis.chain_id.clone(),
                sender: k.public(),
                nonce: start_nonce + i,
                payload: Payload::Credit(Credit {
                    enterprise: ents[i as usize % 4].into(),
                    kind: CreditKind::Loan,
                    reference: format!("LN-{}", start_nonce + i),
                    amount_fen: Some(1_000_000 + i),
                    currency: "CNY".into(),
                    date: Date::parse("2026-05-01").unwrap(),
                    rating: None,
                    note: None,
                }),
            }
            .sign(k)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let chain = TestChain::new(4);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &chain.genesis).unwrap();
    let mut group = c.benchmark_group("block_1000_txs");
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);

    group.bench_function("validate_execute_commit", |b| {
        b.iter_batched(
            || {
                let next = store
                    .nonce(&chain.member("bank-shanghai").public())
                    .unwrap()
                    + 1;
                let tip = store.tip();
                let last = if tip.height == 0 {
                    None
                } else {
                    store.cert(tip.height).unwrap()
                };
                build_block(
                    &store,
                    &chain.genesis,
                    &tip,
                    last,
                    chain.validators[0].public(),
                    tip.time_ms + 1000,
                    txs(&chain, next),
                )
                .unwrap()
            },
            |proposed| {
                let tip = store.tip();
                let executed =
                    validate_block(&store, &chain.genesis, &tip, &proposed.block, None, &|_| {
                        false
                    })
                    .unwrap();
                let cert = chain.certify(executed.block.header.height, executed.block.hash());
                store
                    .commit_block(&executed.block, &cert, &executed.outcome)
                    .unwrap();
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("execute_only_on_overlay", |b| {
        let next = store
            .nonce(&chain.member("bank-shanghai").public())
            .unwrap()
            + 1;
        let batch = txs(&chain, next);
        let tip = store.tip();
        let last = store.cert(tip.height).unwrap();
        b.iter(|| {
            build_block(
                &store,
                &chain.genesis,
                &tip,
                last.clone(),
                chain.validators[0].public(),
                tip.time_ms + 1000,
                batch.clone(),
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
