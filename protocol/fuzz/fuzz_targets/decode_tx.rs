//! Decoding arbitrary bytes as a transaction must never panic, and whatever
//! decodes must re-encode to the same bytes (one encoding per value).
#![no_main]
use deltachain_protocol::SignedTransaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode(data) {
        assert_eq!(tx.encode(), data);
        let _ = tx.check_stateless(&tx.tx.chain_id, data.len());
        let _ = tx.verify_signature();
    }
});
