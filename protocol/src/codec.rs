//! The canonical encoding: bincode 2 with one fixed configuration.
//!
//! * Integers are fixed-width little-endian, so no integer has two encodings
//!   (bincode's varint form would accept over-long encodings).
//! * Sequences and strings carry a `u64` length prefix; enums a `u32` variant
//!   index; `Option` a one-byte tag; booleans must be 0 or 1.
//! * Decoding is bounded twice: the caller's per-type byte limit is checked
//!   against the input length before any parsing, and bincode's own limit
//!   stops a forged length prefix from reserving memory beyond it.
//! * Trailing bytes after a value are an error.
//!
//! Together these make the encoding a bijection between values and the byte
//! strings that decode, which is what lets `tx_hash = sha256(bytes)` name a
//! transaction: two nodes cannot disagree about a value's bytes.
//! Wire types contain no maps, whose encoded order would otherwise be a
//! second source of freedom.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Upper bound on any single decoded value (a block sync response is the
/// largest thing we decode).
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

/// The one bincode configuration used everywhere in Deltachain.
pub type Config = Configuration<LittleEndian, Fixint, Limit<MAX_DECODE_BYTES>>;

/// The canonical configuration value.
pub const CONFIG: Config = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<MAX_DECODE_BYTES>();

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than the type's limit.
    #[error("{what} is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The type being decoded.
        what: &'static str,
        /// Input length.
        len: usize,
        /// The limit for this type.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("{what} does not decode: {reason}")]
    Malformed {
        /// The type being decoded.
        what: &'static str,
        /// bincode's explanation.
        reason: String,
    },
    /// A valid value was followed by extra bytes.
    #[error("{what} has {extra} trailing bytes after a complete value")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// Number of unread bytes.
        extra: usize,
    },
}

/// Encodes a value canonically.
///
/// Encoding a wire type cannot fail (no maps, no unsized sequences), so a
/// failure here is a programming error.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, CONFIG).expect("canonical encoding of a wire type")
}

/// Decodes exactly one value of `what` from `bytes`, at most `limit` bytes long.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(bytes, CONFIG).map_err(|e| {
        DecodeError::Malformed {
            what,
            reason: e.to_string(),
        }
    })?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what,
            extra: bytes.len() - read,
        });
    }
    Ok(value)
}
