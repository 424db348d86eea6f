//! The state tree alone: the cost of one block's update on a tree of
//! 100,000 keys, and the size of a proof at one million keys.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use deltachain_node::ledger::tree::{commit_writes, prove, MemoryState};
use deltachain_node::ledger::WriteSet;

fn key(i: u64) -> Vec<u8> {
    format!("cn/9131{i:014}").into_bytes()
}

/// A tree of `n` keys built in blocks of 50,000.
fn tree(n: u64) -> MemoryState {
    let mut mem = MemoryState::default();
    for (version, start) in (0..n).step_by(50_000).enumerate() {
        let mut w: WriteSet = (start..(start + 50_000).min(n))
            .map(|i| (key(i), Some(vec![7u8; 100])))
            .collect();
        let (_, batch) = commit_writes(&mem, version as u64, &mut w).unwrap();
        mem.apply(&w, &batch);
    }
    mem
}

fn bench(c: &mut Criterion) {
    let base = tree(100_000);
    let mut group = c.benchmark_group("state_tree_100k_keys");
    group.sample_size(20);
    for updates in [500u64, 3_000] {
        group.throughput(Throughput::Elements(updates));
        group.bench_function(format!("block_of_{updates}_updates"), |b| {
            b.iter_batched(
                || -> WriteSet {
                    (0..updates)
                        .map(|i| (key(i * 31 % 100_000), Some(vec![9u8; 100])))
                        .collect()
                },
                |mut w| commit_writes(&base, 2, &mut w).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("prove_one_key", |b| {
        b.iter(|| prove(&base, &key(4242), 1).unwrap())
    });
    group.finish();

    // Proof size at one million keys: printed, not timed.
    let big = tree(1_000_000);
    let (mut present, mut absent) = (Vec::new(), Vec::new());
    for i in 0..200u64 {
        let (v, p) = prove(&big, &key(i * 4999 % 1_000_000), 19).unwrap();
        assert!(v.is_some());
        present.push(serde_json::to_vec(&p).unwrap().len());
        let (v, p) = prove(&big, format!("ip/none-{i}").as_bytes(), 19).unwrap();
        assert!(v.is_none());
        absent.push(serde_json::to_vec(&p).unwrap().len());
    }
    let avg = |v: &[usize]| v.iter().sum::<usize>() / v.len();
    eprintln!(
        "proof size at 1,000,000 keys (JSON, hex hashes): present avg {} B max {} B; absent avg {} B max {} B",
        avg(&present),
        present.iter().max().unwrap(),
        avg(&absent),
        absent.iter().max().unwrap()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
