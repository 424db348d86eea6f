//! A state proof comes from a node the client does not trust: decoding and
//! verifying any bytes as a proof answer must never panic, and a proof that
//! verifies must lead exactly to the header's root (checked by folding it
//! again with the claimed value flipped to absence, which must fail unless
//! the claim already was absence).
#![no_main]
use deltachain_protocol::state::{StateAnswer, StateProof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = serde_json::from_slice::<StateAnswer>(data) {
        for e in &a.entries {
            if e.verify(&a.header.state_root).is_ok() && e.value.is_some() {
                assert!(e
                    .proof
                    .verify(&a.header.state_root, e.key.as_bytes(), None)
                    .is_err());
            }
            let _ = e.decode::<deltachain_protocol::state::IpRecord>("ip");
        }
    }
    // Raw: the first 32 bytes a root, the next 32 a key, the rest siblings.
    if data.len() >= 64 {
        let root = deltachain_protocol::Hash(data[..32].try_into().unwrap());
        let key = &data[32..64];
        let siblings = data[64..]
            .chunks_exact(32)
            .map(|c| deltachain_protocol::Hash(c.try_into().unwrap()))
            .collect();
        let p = StateProof {
            leaf: None,
            siblings,
        };
        let _ = p.verify(&root, key, None);
        let _ = p.verify(&root, key, Some(b"v"));
    }
});
