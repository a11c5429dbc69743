//! RFC 6962 / RFC 9162 Merkle tree hashing over the audit log, and its proofs.
//!
//! The log's entries, in `seq` order, are the leaves. A leaf is the entry's stored hash (the
//! 64 hex characters of the hash chain, as stored), so a verifier needs nothing but the
//! exported entries. Hashing follows RFC 9162 section 2.1.1: a leaf is
//! `SHA-256(0x00 || data)`, an interior node `SHA-256(0x01 || left || right)`, the root of
//! the empty tree `SHA-256("")`, and a tree of `n > 1` leaves splits at the largest power of
//! two smaller than `n`. Inclusion proofs are RFC 9162 section 2.1.3, consistency proofs
//! section 2.1.4, both generated and verified as the RFC's algorithms say.
//!
//! A pruned log keeps no leaves before the cut, only the cut's compact range ("frontier"):
//! the roots of the perfect subtrees the cut splits into. Every subtree an RFC proof asks for
//! about a later leaf is either one of those, or after the cut, or made of both (see
//! [`Tree::subtree`]), so proofs and roots of every size from the cut on still work.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// RFC 9162 2.1.1: `MTH({d(0)}) = SHA-256(0x00 || d(0))`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 9162 2.1.1: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 2.1.1: the hash of an empty list is the hash of an empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two smaller than `n` (`n > 1`): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The compact range of a tree's first `size` leaves: the roots of its perfect subtrees,
/// largest (leftmost) first. Enough to compute the root, and to go on adding leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    pub size: u64,
    /// One hash per set bit of `size`, from the highest bit down.
    pub nodes: Vec<Hash>,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut size = self.size;
        // Each trailing one bit of the old size is a subtree of the new leaf's height to merge.
        while size & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        self.nodes.push(carry);
        self.size += 1;
    }

    /// The tree's root: the subtrees folded from the right, which is RFC 9162's split at
    /// the largest power of two, applied again to what is right of it.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The ranges `[start, end)` of the leaves under each node, in order.
    fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut start = 0;
        for bit in (0..64).rev() {
            let w = 1u64 << bit;
            if self.size & w != 0 {
                out.push((start, start + w));
                start += w;
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("the log holds {have} entries; a tree of {want} cannot be computed")]
    TooLarge { want: u64, have: u64 },
    #[error("entries before {cut} were pruned; that part of the tree is no longer kept")]
    Pruned { cut: u64 },
    #[error("leaf {index} is not in a tree of {size}")]
    NoSuchLeaf { index: u64, size: u64 },
}

/// The log's tree as the store can rebuild it: the compact range at the prune cut (empty
/// when nothing was pruned) and the leaves after it.
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    pub base: &'a Frontier,
    /// Leaves `base.size ..`, in order.
    pub leaves: &'a [Hash],
    /// Subtrees already computed (those of 64 leaves or more), so that proving many
    /// checkpoints costs about one pass over the log rather than one pass each.
    pub cache: Option<&'a std::cell::RefCell<std::collections::HashMap<(u64, u64), Hash>>>,
}

/// Subtrees smaller than this are recomputed rather than remembered.
const CACHED: u64 = 64;

impl Tree<'_> {
    pub fn size(&self) -> u64 {
        self.base.size + self.leaves.len() as u64
    }

    /// `MTH(D[a:b])`. A range before the cut must be one of the frontier's nodes; one across
    /// the cut starts at a multiple of the next power of two above its length (RFC 9162's
    /// recursion only makes such ranges), so its left part, when wholly before the cut, is a
    /// largest aligned block there, which is a frontier node.
    pub fn subtree(&self, a: u64, b: u64) -> Result<Hash, MerkleError> {
        let cut = self.base.size;
        if b > self.size() {
            return Err(MerkleError::TooLarge {
                want: b,
                have: self.size(),
            });
        }
        if b <= a {
            return Ok(empty_root());
        }
        if b <= cut {
            let kept = self
                .base
                .ranges()
                .iter()
                .position(|r| *r == (a, b))
                .and_then(|i| self.base.nodes.get(i).copied());
            if let Some(h) = kept {
                return Ok(h);
            }
            // A range ending at the cut (the root at the cut's size) is made of frontier nodes.
            if b - a == 1 {
                return Err(MerkleError::Pruned { cut });
            }
        }
        if a >= cut && b - a < CACHED {
            let from = usize::try_from(a - cut).unwrap_or(usize::MAX);
            let to = usize::try_from(b - cut).unwrap_or(usize::MAX);
            let mut f = Frontier::default();
            for l in self.leaves.get(from..to).unwrap_or_default() {
                f.push(*l);
            }
            return Ok(f.root());
        }
        if let Some(h) = self.cache.and_then(|c| c.borrow().get(&(a, b)).copied()) {
            return Ok(h);
        }
        let k = split(b - a);
        let h = node_hash(&self.subtree(a, a + k)?, &self.subtree(a + k, b)?);
        if let Some(c) = self.cache {
            c.borrow_mut().insert((a, b), h);
        }
        Ok(h)
    }

    /// The root of the tree of the first `n` leaves.
    pub fn root(&self, n: u64) -> Result<Hash, MerkleError> {
        self.subtree(0, n)
    }

    /// RFC 9162 2.1.3.1 `PATH(m, D[n])`: the inclusion proof of leaf `m` in the tree of `n`.
    pub fn inclusion(&self, m: u64, n: u64) -> Result<Vec<Hash>, MerkleError> {
        if m >= n {
            return Err(MerkleError::NoSuchLeaf { index: m, size: n });
        }
        let mut out = Vec::new();
        self.path(m, 0, n, &mut out)?;
        Ok(out)
    }

    fn path(&self, m: u64, a: u64, b: u64, out: &mut Vec<Hash>) -> Result<(), MerkleError> {
        if b - a <= 1 {
            return Ok(());
        }
        let k = split(b - a);
        if m < a + k {
            self.path(m, a, a + k, out)?;
            out.push(self.subtree(a + k, b)?);
        } else {
            self.path(m, a + k, b, out)?;
            out.push(self.subtree(a, a + k)?);
        }
        Ok(())
    }

    /// RFC 9162 2.1.4.1 `PROOF(m, D[n])`: that the tree of `m` is a prefix of the tree of `n`.
    pub fn consistency(&self, m: u64, n: u64) -> Result<Vec<Hash>, MerkleError> {
        if m > n || n > self.size() {
            return Err(MerkleError::TooLarge {
                want: n.max(m),
                have: self.size(),
            });
        }
        let mut out = Vec::new();
        if m > 0 && m < n {
            self.subproof(m, 0, n, true, &mut out)?;
        }
        Ok(out)
    }

    fn subproof(
        &self,
        m: u64,
        a: u64,
        b: u64,
        whole: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), MerkleError> {
        let n = b - a;
        if m == n {
            if !whole {
                out.push(self.subtree(a, b)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, a, a + k, whole, out)?;
            out.push(self.subtree(a + k, b)?);
        } else {
            self.subproof(m - k, a + k, b, false, out)?;
            out.push(self.subtree(a, a + k)?);
        }
        Ok(())
    }
}

/// RFC 9162 2.1.3.2: does `proof` show the leaf (already leaf-hashed) at `index` in the tree
/// of `size` with this root?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 2.1.4.2: does `proof` show the tree of `m` (root `old`) is a prefix of the tree
/// of `n` (root `new`)?
pub fn verify_consistency(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    if m == 0 {
        // Every tree extends the empty one; the RFC leaves this case to the caller.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let Some(first) = path.first() else {
        return false;
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in path.iter().skip(1) {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old && sr == *new && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162's definition, written out as recursion over a slice: the reference.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("{i}").as_bytes()))
            .collect()
    }

    fn frontier(d: &[Hash]) -> Frontier {
        let mut f = Frontier::default();
        d.iter().for_each(|l| f.push(*l));
        f
    }

    #[test]
    fn frontier_root_matches_the_rfc_definition() {
        for n in 0..70 {
            let d = leaves(n);
            assert_eq!(frontier(&d).root(), mth(&d), "n = {n}");
        }
    }

    #[test]
    fn the_cache_changes_nothing_but_the_cost() {
        let all = leaves(700);
        let none = Frontier::default();
        let cache = std::cell::RefCell::new(std::collections::HashMap::new());
        let cached = Tree {
            base: &none,
            leaves: &all,
            cache: Some(&cache),
        };
        for n in [1u64, 63, 64, 65, 128, 300, 511, 512, 699, 700] {
            let root = mth(&all[..n as usize]);
            assert_eq!(cached.root(n).unwrap(), root, "{n}");
            for m in [0, n / 3, n - 1] {
                let p = cached.inclusion(m, n).unwrap();
                assert!(verify_inclusion(m, n, &all[m as usize], &p, &root));
            }
            let old = mth(&all[..(n / 2) as usize]);
            let p = cached.consistency(n / 2, n).unwrap();
            assert!(verify_consistency(n / 2, n, &old, &root, &p), "{n}");
        }
        assert!(!cache.borrow().is_empty());
    }

    #[test]
    fn known_answer_for_the_empty_tree() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn inclusion_and_consistency_proofs_verify_and_fail_when_wrong() {
        let all = leaves(40);
        let none = Frontier::default();
        for n in 1..=all.len() as u64 {
            let tree = Tree {
                base: &none,
                leaves: &all[..n as usize],
                cache: None,
            };
            let root = mth(&all[..n as usize]);
            assert_eq!(tree.root(n).unwrap(), root);
            for m in 0..n {
                let p = tree.inclusion(m, n).unwrap();
                assert!(verify_inclusion(m, n, &all[m as usize], &p, &root));
                let other = all[((m + 1) % n) as usize];
                if n > 1 {
                    assert!(!verify_inclusion(m, n, &other, &p, &root), "{m} {n}");
                }
            }
            for m in 0..=n {
                let p = tree.consistency(m, n).unwrap();
                let old = mth(&all[..m as usize]);
                assert!(verify_consistency(m, n, &old, &root, &p), "{m} {n}");
                if m > 0 && m < n {
                    let wrong = leaf_hash(b"not the old root");
                    assert!(!verify_consistency(m, n, &wrong, &root, &p), "{m} {n}");
                }
            }
        }
    }

    #[test]
    fn a_pruned_tree_still_proves_every_leaf_after_the_cut() {
        let all = leaves(45);
        for cut in 0..all.len() {
            let base = frontier(&all[..cut]);
            for n in cut as u64..=all.len() as u64 {
                let full = Tree {
                    base: &Frontier::default(),
                    leaves: &all[..n as usize],
                    cache: None,
                };
                let pruned = Tree {
                    base: &base,
                    leaves: &all[cut..n as usize],
                    cache: None,
                };
                assert_eq!(pruned.root(n).unwrap(), mth(&all[..n as usize]));
                for m in cut as u64..n {
                    assert_eq!(
                        pruned.inclusion(m, n).unwrap(),
                        full.inclusion(m, n).unwrap(),
                        "cut {cut} leaf {m} size {n}"
                    );
                }
                assert_eq!(
                    pruned.consistency(cut as u64, n).unwrap(),
                    full.consistency(cut as u64, n).unwrap()
                );
            }
        }
    }
}
