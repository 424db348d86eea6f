//! Request bodies of `POST /v1/txs` and `/v1/txs/batch`, parsed exactly as
//! the node parses them: any bytes give transactions or a 4xx error with a
//! code, never a panic; what parses as a transaction re-encodes the same.
#![no_main]
use deltachain_node::api::{parse_batch_body, parse_submit_body};
use deltachain_protocol::SignedTransaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let check = |raw: &[u8]| {
        if let Ok(t) = SignedTransaction::decode(raw) {
            assert_eq!(t.encode(), raw);
        }
    };
    match parse_submit_body(data) {
        Ok(raw) => check(&raw),
        Err(e) => assert!(e.status().is_client_error(), "{}", e.code()),
    }
    match parse_batch_body(data) {
        Ok(list) => list.iter().for_each(|raw| check(raw)),
        Err(e) => assert!(e.status().is_client_error(), "{}", e.code()),
    }
});
