//! Hashing and domain-separated ed25519 signatures.
//!
//! Every signature covers `len(domain) || domain || len(chain_id) || chain_id
//! || canonical bytes`. The domain tag says what kind of message was signed
//! and the chain id which network it belongs to, so a vote can never be
//! replayed as a transaction, nor a transaction from a test network on the
//! production one.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::bytes::{Hash, PublicKey, Signature};

/// What a signature is for. Each variant has its own tag in the signed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A member's transaction.
    Tx,
    /// A validator's prevote or precommit.
    Vote,
    /// A validator's block proposal.
    Proposal,
}

impl Domain {
    /// The tag mixed into the signed bytes.
    pub fn tag(self) -> &'static str {
        match self {
            Domain::Tx => "deltachain/tx/v1",
            Domain::Vote => "deltachain/vote/v1",
            Domain::Proposal => "deltachain/proposal/v1",
        }
    }
}

/// sha256 of a byte string.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// sha256 over several parts, without concatenating them first.
pub fn sha256_parts(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

/// The exact bytes a signature covers.
pub fn signing_bytes(domain: Domain, chain_id: &str, body: &[u8]) -> Vec<u8> {
    let tag = domain.tag().as_bytes();
    let chain = chain_id.as_bytes();
    let mut out = Vec::with_capacity(2 + tag.len() + chain.len() + body.len());
    // Both lengths fit in a byte: tags are short and chain ids are validated
    // to at most 64 bytes.
    out.push(tag.len() as u8);
    out.extend_from_slice(tag);
    out.push(chain.len().min(255) as u8);
    out.extend_from_slice(chain);
    out.extend_from_slice(body);
    out
}

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The 32 bytes are not a point on the curve, or a weak (small-order) key.
    #[error("public key {0} is not a valid ed25519 key")]
    BadKey(String),
    /// The signature does not verify for this key and message.
    #[error("signature does not verify for key {0}")]
    Invalid(String),
}

/// A secret ed25519 key. Kept in one type so that zeroization on drop and the
/// "never print a secret" rule live in one place.
pub struct Keypair(SigningKey);

impl Keypair {
    /// The key for a 32-byte secret seed.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Keypair(SigningKey::from_bytes(&secret))
    }

    /// The 32-byte secret seed (to write a key file).
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses the text of a key file: the 32-byte secret as 64 hex
    /// characters (surrounding whitespace ignored). Node and member key
    /// files share this one format.
    pub fn from_key_file(text: &str) -> Result<Keypair, crate::HexError> {
        Hash::from_hex(text.trim()).map(|h| Keypair::from_secret(h.0))
    }

    /// The text of a key file for this key.
    pub fn to_key_file(&self) -> String {
        format!("{}\n", Hash(self.secret()).to_hex())
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `body` under `domain` and `chain_id`.
    pub fn sign(&self, domain: Domain, chain_id: &str, body: &[u8]) -> Signature {
        Signature(
            self.0
                .sign(&signing_bytes(domain, chain_id, body))
                .to_bytes(),
        )
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair(public {})", self.public())
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair::from_secret(self.secret())
    }
}

fn verifying_key(key: &PublicKey) -> Result<VerifyingKey, SignatureError> {
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| SignatureError::BadKey(key.to_hex()))?;
    if vk.is_weak() {
        return Err(SignatureError::BadKey(key.to_hex()));
    }
    Ok(vk)
}

/// Checks that 32 bytes are an acceptable (on-curve, not weak) public key.
pub fn check_public_key(key: &PublicKey) -> Result<(), SignatureError> {
    verifying_key(key).map(|_| ())
}

/// Verifies one signature strictly (rejects malleable encodings).
pub fn verify(
    key: &PublicKey,
    domain: Domain,
    chain_id: &str,
    body: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let vk = verifying_key(key)?;
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    vk.verify_strict(&signing_bytes(domain, chain_id, body), &sig)
        .map_err(|_| SignatureError::Invalid(key.to_hex()))
}

/// One item for [`verify_batch`].
pub struct BatchItem<'a> {
    /// Signer.
    pub key: &'a PublicKey,
    /// Domain of the message.
    pub domain: Domain,
    /// Chain id the message belongs to.
    pub chain_id: &'a str,
    /// Canonical bytes of the signed body.
    pub body: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// Verifies many signatures at once, returning one result per item.
///
/// Batch verification is about twice as fast per signature as single
/// verification on this hardware. When the batch as a whole fails, every item
/// is re-checked alone so the caller learns exactly which ones are bad; the
/// answer is therefore the same as verifying each item with [`verify`], and
/// deterministic (dalek derives the batch coefficients from a transcript of
/// the inputs).
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), SignatureError>> {
    if items.len() < 2 {
        return items
            .iter()
            .map(|i| verify(i.key, i.domain, i.chain_id, i.body, i.signature))
            .collect();
    }
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        match verifying_key(item.key) {
            Ok(vk) => keys.push(vk),
            Err(_) => {
                return items
                    .iter()
                    .map(|i| verify(i.key, i.domain, i.chain_id, i.body, i.signature))
                    .collect()
            }
        }
    }
    let messages: Vec<Vec<u8>> = items
        .iter()
        .map(|i| signing_bytes(i.domain, i.chain_id, i.body))
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.signature.0))
        .collect();
    if ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_ok() {
        // verify_strict additionally refuses small-order R and non-canonical
        // s; batch verification checks s canonicity, and R of small order
        // cannot come from an honest signer, so re-check only those.
        return items
            .iter()
            .zip(&sigs)
            .map(|(item, sig)| {
                let r: [u8; 32] = sig.r_bytes().to_owned();
                if is_small_order_encoding(&r) {
                    verify(
                        item.key,
                        item.domain,
                        item.chain_id,
                        item.body,
                        item.signature,
                    )
                } else {
                    Ok(())
                }
            })
            .collect();
    }
    items
        .iter()
        .map(|i| verify(i.key, i.domain, i.chain_id, i.body, i.signature))
        .collect()
}

/// True when R is not a valid point or has small order; such signatures get
/// the strict single check.
fn is_small_order_encoding(r: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(r)
        .map(|point| point.is_weak())
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    #[test]
    fn sign_verify_and_domain_separation() {
        let k = key(1);
        let sig = k.sign(Domain::Tx, "delta-test", b"hello");
        verify(&k.public(), Domain::Tx, "delta-test", b"hello", &sig).unwrap();
        assert!(verify(&k.public(), Domain::Vote, "delta-test", b"hello", &sig).is_err());
        assert!(verify(&k.public(), Domain::Tx, "delta-main", b"hello", &sig).is_err());
        assert!(verify(&key(2).public(), Domain::Tx, "delta-test", b"hello", &sig).is_err());
    }

    #[test]
    fn batch_finds_the_bad_one() {
        let keys: Vec<Keypair> = (1..=10).map(key).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
        let bodies: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 40]).collect();
        let mut sigs: Vec<Signature> = keys
            .iter()
            .zip(&bodies)
            .map(|(k, b)| k.sign(Domain::Tx, "c", b))
            .collect();
        let items = |sigs: &[Signature]| -> Vec<Result<(), SignatureError>> {
            let items: Vec<BatchItem> = (0..10)
                .map(|i| BatchItem {
                    key: &pubs[i],
                    domain: Domain::Tx,
                    chain_id: "c",
                    body: &bodies[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_batch(&items)
        };
        assert!(items(&sigs).iter().all(|r| r.is_ok()));
        sigs[3].0[10] ^= 1;
        let res = items(&sigs);
        assert!(res[3].is_err());
        assert_eq!(res.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn weak_key_refused() {
        // The identity point is of small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(check_public_key(&PublicKey(id)).is_err());
    }
}
