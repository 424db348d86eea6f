//! Per-client budgets for work a client can make the node waste.
//!
//! Admission checks membership and nonces before signatures, so a stranger
//! costs no signature check. A client that knows a member's public key (the
//! member list is public to those who can read it) can still send
//! transactions in that member's name with bad signatures, and each costs a
//! verification. Honest clients never send one, so each client address gets
//! a small budget of *failed* verifications: a token bucket of
//! [`BAD_SIGNATURES_PER_SECOND`] with a burst of [`BAD_SIGNATURE_BURST`].
//! A client over budget is answered 429 with `Retry-After` before anything
//! is verified. The table of clients is bounded; the longest idle client is
//! forgotten first.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed signature checks a client may cause per second, sustained.
pub const BAD_SIGNATURES_PER_SECOND: u64 = 50;
/// Failed signature checks a client may cause at once.
pub const BAD_SIGNATURE_BURST: u64 = 500;
/// Clients remembered.
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    last: Instant,
}

/// The budgets of all clients.
#[derive(Debug, Default)]
pub struct ClientLimits {
    buckets: Mutex<BTreeMap<IpAddr, Bucket>>,
}

impl ClientLimits {
    fn refill(b: &mut Bucket, now: Instant) {
        let elapsed_ms = now.saturating_duration_since(b.last).as_millis() as u64;
        let add = elapsed_ms * BAD_SIGNATURES_PER_SECOND / 1000;
        if add > 0 {
            b.tokens = (b.tokens + add).min(BAD_SIGNATURE_BURST);
            b.last = now;
        }
    }

    /// `Err(retry_after)` if `client` has used up its budget.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("limits lock");
        match buckets.get_mut(&client) {
            None => Ok(()),
            Some(b) => {
                Self::refill(b, now);
                if b.tokens > 0 {
                    Ok(())
                } else {
                    Err(Duration::from_millis(1000 / BAD_SIGNATURES_PER_SECOND + 1))
                }
            }
        }
    }

    /// Charges `client` for `n` failed signature checks.
    pub fn charge(&self, client: IpAddr, n: u64) {
        self.charge_at(client, n, Instant::now())
    }

    fn charge_at(&self, client: IpAddr, n: u64, now: Instant) {
        if n == 0 {
            return;
        }
        let mut buckets = self.buckets.lock().expect("limits lock");
        if !buckets.contains_key(&client) && buckets.len() >= MAX_CLIENTS {
            if let Some(idle) = buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(ip, _)| *ip)
            {
                buckets.remove(&idle);
            }
        }
        let b = buckets.entry(client).or_insert(Bucket {
            tokens: BAD_SIGNATURE_BURST,
            last: now,
        });
        Self::refill(b, now);
        b.tokens = b.tokens.saturating_sub(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_signatures_are_budgeted_per_client_and_refill() {
        let limits = ClientLimits::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(limits.check_at(a, t0).is_ok(), "a new client has its burst");
        limits.charge_at(a, BAD_SIGNATURE_BURST, t0);
        assert!(limits.check_at(a, t0).is_err());
        assert!(
            limits.check_at(b, t0).is_ok(),
            "one client's budget is its own"
        );
        // A second later, 50 more.
        let t1 = t0 + Duration::from_secs(1);
        assert!(limits.check_at(a, t1).is_ok());
        limits.charge_at(a, BAD_SIGNATURES_PER_SECOND, t1);
        assert!(limits.check_at(a, t1).is_err());
    }

    #[test]
    fn the_client_table_is_bounded() {
        let limits = ClientLimits::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 100) {
            limits.charge_at(IpAddr::from(i.to_be_bytes()), 1, t0);
        }
        assert_eq!(limits.buckets.lock().unwrap().len(), MAX_CLIENTS);
    }
}
