//! Fixed-size byte strings: hashes, public keys and signatures.
//!
//! In the canonical (binary) encoding they are raw bytes with no length
//! prefix; in JSON they are lowercase hex strings, because that is what an
//! operator pastes into a terminal.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Error for a hex string that does not decode to the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes as {} lowercase hex characters, got {got:?}", expected * 2)]
pub struct HexError {
    /// Number of bytes the value must have.
    pub expected: usize,
    /// The offending input, truncated for display.
    pub got: String,
}

pub(crate) fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let err = || HexError {
        expected: N,
        got: s.chars().take(2 * N + 8).collect(),
    };
    if s.len() != 2 * N {
        return Err(err());
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
    Ok(out)
}

fn serialize_array<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        let mut tuple = serializer.serialize_tuple(N)?;
        for b in bytes {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }
}

struct ArrayVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{N} bytes, or {} lowercase hex characters", 2 * N)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_hex::<N>(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        Ok(out)
    }
}

fn deserialize_array<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(ArrayVisitor::<N>)
    } else {
        deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

macro_rules! byte_array {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Parses lowercase (or uppercase) hex of exactly the right length.
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                parse_hex::<$len>(s).map(Self)
            }

            /// Lowercase hex, the form used in JSON, logs and the CLI.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Short form keeps logs and assertion failures readable.
                write!(f, "{}({}…)", stringify!($name), &self.to_hex()[..12])
            }
        }

        impl std::str::FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_array(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_array::<D, $len>(d).map(Self)
            }
        }
    };
}

byte_array!(
    /// A sha256 digest: block hashes, transaction hashes, Merkle and state roots.
    Hash,
    32
);
byte_array!(
    /// An ed25519 public key of a validator or member, as its 32 compressed bytes.
    PublicKey,
    32
);
byte_array!(
    /// An ed25519 signature (R || s).
    Signature,
    64
);

impl Default for Hash {
    fn default() -> Self {
        Hash::ZERO
    }
}

impl Hash {
    /// The all-zero hash, used as the previous-block hash of height 1.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// First 8 hex characters, for compact log lines and tables.
    pub fn short(&self) -> String {
        self.to_hex()[..8].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash([0xab; 32]);
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        let e = Hash::from_hex("abc").unwrap_err();
        assert!(e.to_string().contains("expected 32 bytes"), "{e}");
        assert!(Hash::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn json_is_hex() {
        let s = Signature([7; 64]);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, format!("\"{}\"", "07".repeat(64)));
        let back: Signature = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
    }
}
