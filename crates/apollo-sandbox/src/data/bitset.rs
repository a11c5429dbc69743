//! A fixed-size set of people, one bit each: filters intersect these in a few hundred
//! word operations instead of testing every person.

#[derive(Clone, Debug, Default)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    pub fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    pub fn full(len: usize) -> Self {
        let mut set = Self::new(len);
        for i in 0..len {
            set.insert(i);
        }
        set
    }

    pub fn insert(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    /// The union of `sets` (all of length `len`).
    pub fn union<'a>(len: usize, sets: impl Iterator<Item = &'a Bitset>) -> Self {
        let mut out = Self::new(len);
        for set in sets {
            for (w, o) in out.words.iter_mut().zip(&set.words) {
                *w |= o;
            }
        }
        out
    }

    pub fn and(&mut self, other: &Bitset) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w &= o;
        }
    }

    /// Keeps the members for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        for (wi, word) in self.words.iter_mut().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !keep(wi * 64 + b) {
                    *word &= !(1 << b);
                }
            }
        }
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Members `offset..offset + limit` in ascending order.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<usize> {
        let mut skip = offset;
        let mut out = Vec::with_capacity(limit.min(self.len));
        for (wi, word) in self.words.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            let ones = word.count_ones() as usize;
            if skip >= ones {
                skip -= ones;
                continue;
            }
            let mut bits = *word;
            while bits != 0 && out.len() < limit {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if skip > 0 {
                    skip -= 1;
                } else {
                    out.push(wi * 64 + b);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_members_in_order() {
        let mut set = Bitset::new(200);
        for i in (0..200).step_by(3) {
            set.insert(i);
        }
        assert_eq!(set.count(), 67);
        assert_eq!(set.page(0, 3), vec![0, 3, 6]);
        assert_eq!(set.page(22, 2), vec![66, 69]);
        assert!(set.page(67, 5).is_empty());
        set.retain(|i| i % 2 == 0);
        assert_eq!(set.page(0, 3), vec![0, 6, 12]);
        let mut other = Bitset::new(200);
        other.insert(6);
        set.and(&other);
        assert_eq!(set.page(0, 10), vec![6]);
    }
}
