//! Hashing and domain-separated ed25519 signatures.
//!
//! Every signature covers `len(domain) || domain || len(chain_id) || chain_id
//! || canonical bytes`. The domain tag says what kind of message was signed
//! and the chain id which network it belongs to, so a vote can never be
//! replayed as a transaction, nor a transaction from a test network on the
//! production one.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};

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
    /// An enterprise's consent to a member reading its data.
    Consent,
    /// An enterprise's revocation of a consent.
    ConsentRevoke,
    /// A debtor enterprise's confirmation of a receivable.
    ReceivableConfirm,
}

impl Domain {
    /// The tag mixed into the signed bytes.
    pub fn tag(self) -> &'static str {
        match self {
            Domain::Tx => "deltachain/tx/v1",
            Domain::Vote => "deltachain/vote/v1",
            Domain::Proposal => "deltachain/proposal/v1",
            Domain::Consent => "deltachain/consent/v1",
            Domain::ConsentRevoke => "deltachain/consent-revoke/v1",
            Domain::ReceivableConfirm => "deltachain/receivable/v1",
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

    /// Signs an HTTP message signature base (RFC 9421), which has no domain
    /// tag: the format is fixed by the RFC so that any HTTP library can
    /// verify it. It cannot be mistaken for a tagged message: a signature
    /// base starts with `"` (0x22) and every tagged message starts with the
    /// tag's length, which is never 34 (see the test `tags_never_start_with_a_quote`).
    pub fn sign_http(&self, signature_base: &[u8]) -> Result<Signature, SignatureError> {
        if signature_base.first() != Some(&b'"') {
            return Err(SignatureError::Invalid(
                "an HTTP signature base starts with a quoted component name".into(),
            ));
        }
        Ok(Signature(self.0.sign(signature_base).to_bytes()))
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

fn decompress_key(key: &PublicKey) -> Result<VerifyingKey, SignatureError> {
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| SignatureError::BadKey(key.to_hex()))?;
    if vk.is_weak() {
        return Err(SignatureError::BadKey(key.to_hex()));
    }
    Ok(vk)
}

/// How many decompressed keys [`verifying_key`] keeps. A network has a few
/// hundred members and validators; the bound only matters against a flood of
/// transactions from made-up keys, which cost their sender a signature each
/// and us at most this many entries (about 250 bytes each).
pub const KEY_CACHE_ENTRIES: usize = 16_384;

/// Decompressed keys by their 32 bytes. Decompressing a point costs a field
/// exponentiation, about a quarter of what a batched signature check costs,
/// and a node sees the same few hundred member keys over and over. The cache never
/// changes an answer: only keys that decompress and are not weak go in.
fn key_cache() -> &'static Mutex<BTreeMap<[u8; 32], VerifyingKey>> {
    static CACHE: OnceLock<Mutex<BTreeMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn verifying_key(key: &PublicKey) -> Result<VerifyingKey, SignatureError> {
    if let Some(vk) = key_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key.0)
    {
        return Ok(*vk);
    }
    let vk = decompress_key(key)?;
    let mut cache = key_cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= KEY_CACHE_ENTRIES {
        cache.pop_first();
    }
    cache.insert(key.0, vk);
    Ok(vk)
}

/// Checks that 32 bytes are an acceptable (on-curve, not weak) public key.
pub fn check_public_key(key: &PublicKey) -> Result<(), SignatureError> {
    verifying_key(key).map(|_| ())
}

/// Verifies one signature.
///
/// The rule, the same here and in [`verify_batch`] so that every node
/// reaches the same verdict however its signatures were grouped:
/// the key decompresses and is not of small order; R is a canonical
/// encoding of a point that is not of small order; s is canonical (below
/// the group order); and the cofactored equation `[8](s·B − k·A − R) = 0`
/// holds, with `k = SHA-512(R ‖ A ‖ message)`. Every signature an ed25519
/// signer produces passes. The cofactored form (as in ZIP-215) is what makes
/// batch and single verification agree exactly: with the cofactorless
/// equation, a signer can build R with a small-order component that a batch
/// accepts or refuses depending on its random coefficients, and so split
/// validators on the validity of one transaction or vote.
pub fn verify(
    key: &PublicKey,
    domain: Domain,
    chain_id: &str,
    body: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let p = prepare(key, &signing_bytes(domain, chain_id, body), signature)?;
    let lhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-p.k, &p.a, &p.s) - p.r;
    if lhs.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Invalid(key.to_hex()))
    }
}

/// A signature decoded and checked up to its equation.
struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Verifies an HTTP message signature (RFC 9421, `ed25519`) over a
/// signature base, by the same rule as [`verify`].
pub fn verify_http(
    key: &PublicKey,
    signature_base: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    if signature_base.first() != Some(&b'"') {
        return Err(SignatureError::Invalid(key.to_hex()));
    }
    let p = prepare(key, signature_base, signature)?;
    let lhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-p.k, &p.a, &p.s) - p.r;
    if lhs.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Invalid(key.to_hex()))
    }
}

fn prepare(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<Prepared, SignatureError> {
    let a = verifying_key(key)?.to_edwards();
    let invalid = || SignatureError::Invalid(key.to_hex());
    let r_bytes: [u8; 32] = signature.0[..32].try_into().expect("64-byte signature");
    let s_bytes: [u8; 32] = signature.0[32..].try_into().expect("64-byte signature");
    if suspicious_r(&r_bytes) {
        return Err(invalid());
    }
    let r = CompressedEdwardsY(r_bytes)
        .decompress()
        .ok_or_else(invalid)?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or_else(invalid)?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.0);
    h.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Ok(Prepared { a, r, s, k })
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

/// Verifies many signatures at once, returning one result per item: the
/// same results as [`verify`] on each item, about twice as fast.
///
/// It checks `[8](Σ zᵢ·(sᵢ·B − kᵢ·Aᵢ − Rᵢ)) = 0` for 128-bit coefficients
/// zᵢ derived by hashing every input (deterministic, no randomness of our
/// own). Each term multiplied by the cofactor lies in the prime-order group,
/// so a false term survives unless the coefficients were chosen to cancel
/// it, which the hash prevents. When the batch fails, every item is checked
/// alone so the caller learns exactly which ones are bad.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), SignatureError>> {
    let single = |i: &BatchItem<'_>| verify(i.key, i.domain, i.chain_id, i.body, i.signature);
    if items.len() < 2 {
        return items.iter().map(single).collect();
    }
    let mut prepared = Vec::with_capacity(items.len());
    for i in items {
        match prepare(
            i.key,
            &signing_bytes(i.domain, i.chain_id, i.body),
            i.signature,
        ) {
            Ok(p) => prepared.push(p),
            // Some item is malformed: give each its own verdict.
            Err(_) => return items.iter().map(single).collect(),
        }
    }
    let mut transcript = Sha512::new();
    transcript.update(b"deltachain/batch-verify/v1");
    for (i, p) in items.iter().zip(&prepared) {
        transcript.update(i.signature.0);
        transcript.update(p.k.as_bytes());
    }
    let seed: [u8; 64] = transcript.finalize().into();
    let zs: Vec<Scalar> = (0..prepared.len() as u64)
        .map(|n| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(n.to_le_bytes());
            let d: [u8; 64] = h.finalize().into();
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(&d[..16]);
            Scalar::from_bytes_mod_order(z)
        })
        .collect();
    let b_coeff: Scalar = zs.iter().zip(&prepared).map(|(z, p)| z * p.s).sum();
    let scalars = std::iter::once(b_coeff)
        .chain(zs.iter().map(|z| -z))
        .chain(zs.iter().zip(&prepared).map(|(z, p)| -(z * p.k)));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| p.r))
        .chain(prepared.iter().map(|p| p.a));
    let sum = EdwardsPoint::vartime_multiscalar_mul(scalars, points);
    if sum.mul_by_cofactor().is_identity() {
        return items.iter().map(|_| Ok(())).collect();
    }
    items.iter().map(single).collect()
}

/// The y coordinates (sign bit cleared, canonical) of the eight points of
/// small order. A point is determined by its y and the sign of x, and the
/// negation of a small-order point has small order too, so an encoding
/// decodes to a small-order point exactly when its reduced y is in this set.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    YS.get_or_init(|| {
        let mut ys: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| {
                let mut y = p.compress().to_bytes();
                y[31] &= 0x7f;
                y
            })
            .collect();
        ys.sort_unstable();
        ys.dedup();
        ys
    })
}

/// True when R is refused from its bytes alone: a non-canonical encoding
/// (y at or above p) or a point of small order. Checking the bytes costs
/// nothing next to decompressing R.
fn suspicious_r(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    // p = 2^255 - 19: y >= p exactly when bytes 1..31 are all 0xff, the top
    // byte (sign cleared) is 0x7f and the lowest is at least 0xed.
    let non_canonical = y[0] >= 0xed && y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    non_canonical || small_order_ys().binary_search(&y).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_never_start_with_a_quote() {
        for d in [
            Domain::Tx,
            Domain::Vote,
            Domain::Proposal,
            Domain::Consent,
            Domain::ConsentRevoke,
        ] {
            let m = signing_bytes(d, "c", b"");
            assert_ne!(
                m[0], b'"',
                "{d:?}: a tagged message must not look like an HTTP signature base"
            );
        }
        assert!(key(1).sign_http(b"no quote").is_err());
        let sig = key(1).sign_http(b"\"@method\": GET").unwrap();
        verify_http(&key(1).public(), b"\"@method\": GET", &sig).unwrap();
        assert!(verify_http(&key(1).public(), b"\"@method\": PUT", &sig).is_err());
    }

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

    /// A signature whose R is the identity satisfies the equation (s = h·a
    /// gives sB = R + hA) but R of small order is refused, alone and in a
    /// batch, without dragging down the honest signature beside it.
    #[test]
    fn small_order_r_is_refused_alone_and_in_a_batch() {
        let k = key(7);
        let a = ed25519_dalek::SigningKey::from_bytes(&k.secret()).to_scalar();
        let mut r = [0u8; 32];
        r[0] = 1;
        let body = b"crafted".to_vec();
        let msg = signing_bytes(Domain::Tx, "c", &body);
        let mut h = Sha512::new();
        h.update(r);
        h.update(k.public().0);
        h.update(&msg);
        let h = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = h * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(s.as_bytes());
        let crafted = Signature(sig);
        // The cofactorless equation holds: this is what a batch would accept.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&k.public().0).unwrap();
        assert!(ed25519_dalek::Verifier::verify(
            &vk,
            &msg,
            &ed25519_dalek::Signature::from_bytes(&sig)
        )
        .is_ok());
        assert!(verify(&k.public(), Domain::Tx, "c", &body, &crafted).is_err());

        let honest_body = b"honest".to_vec();
        let honest = key(8).sign(Domain::Tx, "c", &honest_body);
        let pk8 = key(8).public();
        let pk7 = k.public();
        let items = [
            BatchItem {
                key: &pk8,
                domain: Domain::Tx,
                chain_id: "c",
                body: &honest_body,
                signature: &honest,
            },
            BatchItem {
                key: &pk7,
                domain: Domain::Tx,
                chain_id: "c",
                body: &body,
                signature: &crafted,
            },
        ];
        let res = verify_batch(&items);
        assert!(res[0].is_ok());
        assert!(res[1].is_err(), "small-order R accepted by the batch path");
    }

    /// R with a small-order component (R = rB + T) is where cofactorless
    /// batch and single checks disagree: a batch accepts it when its
    /// coefficient is a multiple of T's order. Here every grouping must give
    /// the single verdict, for a well-formed such signature and a broken one.
    #[test]
    fn mixed_order_r_gets_the_same_verdict_in_every_batch() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        let k = key(11);
        let a = ed25519_dalek::SigningKey::from_bytes(&k.secret()).to_scalar();
        let body = b"mixed".to_vec();
        let msg = signing_bytes(Domain::Tx, "c", &body);
        let sign_mixed = |t: usize, nudge: u8| {
            let r = Scalar::from_bytes_mod_order([7u8; 32]);
            let big_r = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[t])
                .compress()
                .to_bytes();
            let mut h = Sha512::new();
            h.update(big_r);
            h.update(k.public().0);
            h.update(&msg);
            let h = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
            let s = r + h * a + Scalar::from(nudge as u64);
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&big_r);
            sig[32..].copy_from_slice(s.as_bytes());
            Signature(sig)
        };
        let pk = k.public();
        let others: Vec<(PublicKey, Vec<u8>, Signature)> = (20..40u8)
            .map(|n| {
                let b = vec![n; 30];
                let s = key(n).sign(Domain::Tx, "c", &b);
                (key(n).public(), b, s)
            })
            .collect();
        for t in [1usize, 2, 4] {
            for nudge in [0u8, 1] {
                let sig = sign_mixed(t, nudge);
                let alone = verify(&pk, Domain::Tx, "c", &body, &sig).is_ok();
                assert_eq!(alone, nudge == 0, "torsion {t}, nudge {nudge}");
                for n in 1..others.len() {
                    let mut items: Vec<BatchItem> = others[..n]
                        .iter()
                        .map(|(p, b, s)| BatchItem {
                            key: p,
                            domain: Domain::Tx,
                            chain_id: "c",
                            body: b,
                            signature: s,
                        })
                        .collect();
                    items.insert(
                        n / 2,
                        BatchItem {
                            key: &pk,
                            domain: Domain::Tx,
                            chain_id: "c",
                            body: &body,
                            signature: &sig,
                        },
                    );
                    let res = verify_batch(&items);
                    assert_eq!(res[n / 2].is_ok(), alone, "torsion {t}, batch of {}", n + 1);
                    assert_eq!(res.iter().filter(|r| r.is_ok()).count(), n + alone as usize);
                }
            }
        }
    }

    /// Signatures from dalek's own signer verify, alone and batched, and a
    /// signature with a non-canonical s is refused.
    #[test]
    fn dalek_signatures_verify_and_non_canonical_s_is_refused() {
        let k = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let pk = PublicKey(k.verifying_key().to_bytes());
        let msg = signing_bytes(Domain::Vote, "c", b"v");
        let sig = Signature(ed25519_dalek::Signer::sign(&k, &msg).to_bytes());
        verify(&pk, Domain::Vote, "c", b"v", &sig).unwrap();
        // s + l: the same scalar, not canonical.
        let mut bad = sig.0;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = bad[32 + i] as u16 + l[i] as u16 + carry;
            bad[32 + i] = v as u8;
            carry = v >> 8;
        }
        if carry == 0 {
            assert!(verify(&pk, Domain::Vote, "c", b"v", &Signature(bad)).is_err());
        }
    }

    /// Every encoding that decodes to a small-order point, canonical or not,
    /// with either sign bit, is sent to the strict check; R values of real
    /// signatures are not.
    #[test]
    fn suspicious_r_covers_every_small_order_encoding() {
        let mut weak = 0;
        for y in small_order_ys() {
            for sign in [0u8, 0x80] {
                let mut enc = *y;
                enc[31] |= sign;
                assert!(suspicious_r(&enc));
                if VerifyingKey::from_bytes(&enc).is_ok_and(|p| p.is_weak()) {
                    weak += 1;
                }
            }
        }
        // y = 1 and y = -1 have x = 0, so their sign-bit variants decode to
        // the same point: 5 y values, 8 distinct points, 10 encodings.
        assert!(weak >= 8, "only {weak} small-order encodings decoded");
        // Non-canonical: y + p for every y below 19.
        for low in 0u8..19 {
            let mut enc = [0xffu8; 32];
            enc[0] = 0xed + low;
            enc[31] = 0x7f;
            assert!(suspicious_r(&enc));
        }
        for n in 1..=50u8 {
            let sig = key(n).sign(Domain::Tx, "c", &[n; 10]);
            let r: [u8; 32] = sig.0[..32].try_into().unwrap();
            assert!(!suspicious_r(&r));
        }
    }

    #[test]
    fn cached_keys_give_the_same_answers() {
        let k = key(9);
        let sig = k.sign(Domain::Vote, "c", b"x");
        for _ in 0..3 {
            verify(&k.public(), Domain::Vote, "c", b"x", &sig).unwrap();
            assert!(verify(&k.public(), Domain::Vote, "c", b"y", &sig).is_err());
        }
        let mut id = [0u8; 32];
        id[0] = 1;
        for _ in 0..2 {
            assert!(check_public_key(&PublicKey(id)).is_err());
        }
    }
}
