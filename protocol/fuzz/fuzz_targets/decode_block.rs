//! Decoding arbitrary bytes as a block must never panic, and whatever
//! decodes must re-encode to the same bytes.
#![no_main]
use deltachain_protocol::{Block, MAX_BLOCK_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data, MAX_BLOCK_BYTES) {
        assert_eq!(block.encode(), data);
        let _ = block.check_body(&block.tx_hashes());
    }
});
