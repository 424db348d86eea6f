//! The signature-verification ceiling the throughput target is stated
//! against: ed25519 verifications per second on one core, single and in
//! batches of 64, through Deltachain's domain-separated path (key cache,
//! cofactored equation, single and batched) and through dalek directly.
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use deltachain_protocol::crypto::{self, BatchItem, Domain, Keypair};
use deltachain_protocol::{PublicKey, Signature};

const N: usize = 64;

fn bench(c: &mut Criterion) {
    let keys: Vec<Keypair> = (0..N as u8)
        .map(|i| Keypair::from_secret([i + 1; 32]))
        .collect();
    let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
    // About the size of a credit record's signed body.
    let bodies: Vec<Vec<u8>> = (0..N as u8).map(|i| vec![i; 200]).collect();
    let sigs: Vec<Signature> = keys
        .iter()
        .zip(&bodies)
        .map(|(k, b)| k.sign(Domain::Tx, "bench", b))
        .collect();
    let items: Vec<BatchItem> = (0..N)
        .map(|i| BatchItem {
            key: &pubs[i],
            domain: Domain::Tx,
            chain_id: "bench",
            body: &bodies[i],
            signature: &sigs[i],
        })
        .collect();
    let messages: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| crypto::signing_bytes(Domain::Tx, "bench", b))
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    let dsigs: Vec<ed25519_dalek::Signature> = sigs
        .iter()
        .map(|s| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let vks: Vec<ed25519_dalek::VerifyingKey> = pubs
        .iter()
        .map(|p| ed25519_dalek::VerifyingKey::from_bytes(&p.0).unwrap())
        .collect();

    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("deltachain_verify_single_x64", |b| {
        b.iter(|| {
            for it in &items {
                crypto::verify(it.key, it.domain, it.chain_id, it.body, it.signature).unwrap();
            }
        })
    });
    g.bench_function("deltachain_verify_batch64", |b| {
        b.iter(|| assert!(crypto::verify_batch(&items).iter().all(|r| r.is_ok())))
    });
    g.bench_function("dalek_verify_strict_x64", |b| {
        b.iter(|| {
            for i in 0..N {
                vks[i].verify_strict(refs[i], &dsigs[i]).unwrap();
            }
        })
    });
    g.bench_function("dalek_verify_batch64", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&refs, &dsigs, &vks).unwrap())
    });
    g.bench_function("dalek_decompress_key_x64", |b| {
        b.iter(|| {
            for p in &pubs {
                std::hint::black_box(ed25519_dalek::VerifyingKey::from_bytes(&p.0).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
