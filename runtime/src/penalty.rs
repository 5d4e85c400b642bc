//! What killed this worker's earlier children, so the next child steers away from it.
//!
//! A finding ends the child that hit it. Without memory of why, the next child loads the same
//! corpus, learns the same compare operands and walks straight back into the same hang or
//! out-of-memory within a few dozen executions: a target with one known hang behind a
//! one-byte gate ran at 70 executions per second, nearly all of them spent waiting out the
//! timeout. The fork server keeps three tallies here, and every child (forked after they
//! were updated) inherits them:
//!
//! - inputs that killed a child, never replayed at start-up;
//! - corpus entries whose mutants killed a child, picked less the more they did;
//! - tokens (compare operands, dictionary words) whose insertion killed a child, used less
//!   the more they did.
//!
//! Nothing is banned outright: an entry or token that led to one bug may lead to another,
//! so it stays reachable, only rarer.

use crate::util::hash64;
use std::collections::{HashMap, HashSet};

/// The fork server's tallies.
#[derive(Default)]
pub struct Penalties {
    inputs: HashSet<u64>,
    parents: HashMap<u64, u32>,
    tokens: HashMap<u64, u32>,
}

impl Penalties {
    /// Records a child's death on `input`, mutated from the entry `parent` with `token`
    /// (0 for none).
    pub fn record(&mut self, input: &[u8], parent: u64, token: u64) {
        self.inputs.insert(hash64(input));
        if parent != 0 {
            *self.parents.entry(parent).or_default() += 1;
        }
        if token != 0 {
            *self.tokens.entry(token).or_default() += 1;
        }
    }

    /// Whether `input` already killed a child.
    pub fn is_known_bad(&self, input: &[u8]) -> bool {
        !self.inputs.is_empty() && self.inputs.contains(&hash64(input))
    }

    /// Children killed by mutants of the entry with id `parent`.
    pub fn parent_deaths(&self, parent: u64) -> u32 {
        self.parents.get(&parent).copied().unwrap_or(0)
    }

    /// Children killed by inputs that `token` was written into.
    #[inline]
    pub fn token_deaths(&self, token: u64) -> u32 {
        if self.tokens.is_empty() {
            return 0;
        }
        self.tokens.get(&token).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_are_counted_per_parent_and_token() {
        let mut p = Penalties::default();
        assert!(!p.is_known_bad(b"H"));
        p.record(b"H", 7, hash64(b"H"));
        p.record(b"Hx", 7, 0);
        assert!(p.is_known_bad(b"H"));
        assert!(!p.is_known_bad(b"G"));
        assert_eq!(p.parent_deaths(7), 2);
        assert_eq!(p.parent_deaths(8), 0);
        assert_eq!(p.token_deaths(hash64(b"H")), 1);
        assert_eq!(p.token_deaths(0), 0);
    }
}
