//! A consent file is handed from an enterprise to a bank and read by the
//! CLI, and consents and audit batches travel inside transactions: JSON and
//! binary decoding and validation must never panic, and a decoded binary
//! consent re-encodes to the same bytes.
#![no_main]
use deltachain_protocol::{codec, AuditBatch, SignedConsent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = serde_json::from_slice::<SignedConsent>(data) {
        let _ = c.consent.validate();
        let _ = c.verify(&c.consent.grantee);
    }
    if let Ok(c) = codec::decode::<SignedConsent>(data, 4096, "consent") {
        assert_eq!(codec::encode(&c), data);
        let _ = c.consent.validate();
    }
    if let Ok(b) = codec::decode::<AuditBatch>(data, 4096, "audit batch") {
        assert_eq!(codec::encode(&b), data);
        let _ = b.validate();
    }
});
