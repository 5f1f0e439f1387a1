//! Roster digests: how two peers that have just linked find the part of
//! their rosters on which they differ, without sending each other every
//! user.
//!
//! Users fall into a power of two of buckets by the top bits of their node
//! id. A bucket's hash is the XOR of its entries' hashes, so it depends on
//! the entries and not on their order. Each side sends the hash of every
//! bucket (`DIGEST`); the other answers with its entries in the buckets
//! whose hashes differ from its own (`ROSTER`). Two nodes of one settled
//! network then exchange a few entries instead of the whole room, while a
//! newcomer, whose roster differs everywhere, still gets all of it.
//!
//! The hashes are FNV-1a, fixed by PROTOCOL.md, since both ends must
//! compute the same ones. They guard against chance, not against a liar:
//! a peer can lie about its roster anyway.

use crate::protocol::{MsgId, NodeId};

/// Buckets a digest has at most (the protocol's limit): at 10,000 users,
/// about ten per bucket, and the digest is 17 KiB.
pub const MAX_BUCKETS: usize = crate::protocol::MAX_DIGEST_BUCKETS;

/// About this many users per bucket, below [`MAX_BUCKETS`].
const USERS_PER_BUCKET: usize = 16;

/// How many buckets a digest of `entries` users has: a power of two.
pub fn bucket_count(entries: usize) -> usize {
    entries
        .div_ceil(USERS_PER_BUCKET)
        .next_power_of_two()
        .min(MAX_BUCKETS)
}

/// The bucket of user `origin`, of `buckets` (a power of two): the top
/// bits of its id.
pub fn bucket_of(origin: NodeId, buckets: usize) -> usize {
    ((u128::from(origin.0) * buckets as u128) >> 64) as usize
}

/// The hash of one roster entry: FNV-1a (64 bits) over the origin and the
/// sequence number, each as 8 big-endian bytes, and then the name's UTF-8.
pub fn entry_hash(id: MsgId, name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = id.origin.0.to_be_bytes().into_iter();
    let bytes = bytes.chain(id.seq.to_be_bytes()).chain(name.bytes());
    bytes.fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The hashes of `buckets` buckets of `entries`.
pub fn digest<'n>(entries: impl Iterator<Item = (MsgId, &'n str)>, buckets: usize) -> Vec<u64> {
    let mut hashes = vec![0u64; buckets];
    for (id, name) in entries {
        hashes[bucket_of(id.origin, buckets)] ^= entry_hash(id, name);
    }
    hashes
}

/// Which of our buckets differ from a peer's digest `theirs` (of the same
/// count): those of its entries the peer lacks or has otherwise.
pub fn differing(ours: &[u64], theirs: impl Iterator<Item = u64>) -> Vec<bool> {
    ours.iter().zip(theirs).map(|(a, b)| *a != b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(origin: u64, seq: u64) -> (MsgId, &'static str) {
        let id = MsgId {
            origin: NodeId(origin),
            seq,
        };
        (id, "user")
    }

    fn many(n: u64) -> Vec<(MsgId, &'static str)> {
        (0..n)
            .map(|i| entry(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), 5))
            .collect()
    }

    #[test]
    fn counts_are_powers_of_two_up_to_the_most() {
        assert_eq!(bucket_count(0), 1);
        assert_eq!(bucket_count(1), 1);
        assert_eq!(bucket_count(16), 1);
        assert_eq!(bucket_count(17), 2);
        assert_eq!(bucket_count(500), 32);
        assert_eq!(bucket_count(10_000), MAX_BUCKETS);
        assert_eq!(bucket_count(usize::MAX / 2), MAX_BUCKETS);
    }

    #[test]
    fn buckets_are_the_top_bits_of_the_id() {
        assert_eq!(bucket_of(NodeId(u64::MAX), 1), 0);
        assert_eq!(bucket_of(NodeId(u64::MAX), 1024), 1023);
        assert_eq!(bucket_of(NodeId(0x8000_0000_0000_0000), 2), 1);
        assert_eq!(bucket_of(NodeId(0x7fff_ffff_ffff_ffff), 2), 0);
    }

    #[test]
    fn equal_rosters_agree_whatever_the_order() {
        let list = many(300);
        let mut reversed = list.clone();
        reversed.reverse();
        let (a, b) = (
            digest(list.into_iter(), 32),
            digest(reversed.into_iter(), 32),
        );
        assert!(differing(&a, b.into_iter()).iter().all(|d| !d));
    }

    #[test]
    fn a_newer_number_a_new_name_or_a_missing_user_differ_in_its_bucket_only() {
        let list = many(300);
        let ours = digest(list.iter().copied(), 32);
        let (changed, _) = list[7];
        let bucket = bucket_of(changed.origin, 32);
        let variants: [Vec<(MsgId, &str)>; 3] = [
            list.iter()
                .map(|&(id, n)| match id == changed {
                    true => (MsgId { seq: 6, ..id }, n),
                    false => (id, n),
                })
                .collect(),
            list.iter()
                .map(|&(id, n)| (id, if id == changed { "other" } else { n }))
                .collect(),
            list.iter()
                .copied()
                .filter(|(id, _)| *id != changed)
                .collect(),
        ];
        for theirs in variants {
            let theirs = digest(theirs.into_iter(), 32);
            let diff = differing(&ours, theirs.into_iter());
            let which: Vec<usize> = (0..32).filter(|i| diff[*i]).collect();
            assert_eq!(which, [bucket]);
        }
    }

    #[test]
    fn the_hash_is_fnv_1a_as_specified() {
        // FNV-1a of 16 zero bytes and "a", worked out byte by byte.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in [0u8; 16].into_iter().chain(*b"a") {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(entry_hash(entry(0, 0).0, "a"), h);
        assert_ne!(
            entry_hash(entry(0, 0).0, "a"),
            entry_hash(entry(0, 0).0, "b")
        );
    }
}
