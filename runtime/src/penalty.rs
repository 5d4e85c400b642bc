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
//!
//! What counts is deaths *beyond chance*, not deaths: a shallow known crash that any mutant
//! can reach (an `abort()` on a leading `!`) kills children from every entry and with every
//! token at about the worker's overall death rate. Counting those deaths as blame pushed the
//! scheduler away from whatever it used most — the small, fast, productive entries and the
//! dictionary — and cost a third of the executions of a real parser with one such bug. An
//! entry or token is blamed only for the deaths its use explains better than the worker's
//! death rate does: more than the expected count plus about three standard deviations.
//! Except for hangs: one costs a probe or a whole timeout (10^4–10^6 executions' worth), so
//! every one is blame, whatever the rate.

use crate::util::hash64;
use std::collections::{HashMap, HashSet};

/// The fork server's tallies.
#[derive(Default)]
pub struct Penalties {
    inputs: HashSet<u64>,
    /// Per entry: deaths, and hangs among them.
    parents: HashMap<u64, (u32, u32)>,
    /// Per token: deaths, hangs among them, and its slot in the shared use counters (0: none
    /// left).
    tokens: HashMap<u64, Tally>,
    /// Deaths recorded in all.
    total: u64,
}

/// Token slots whose uses children count (in the warm state's shared memory). A token
/// blamed after they ran out is judged by its deaths alone, as if never used.
pub const TOKEN_SLOTS: usize = 1024;

/// What one token killed, and where children count its uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tally {
    pub deaths: u32,
    pub hangs: u32,
    pub slot: u32,
}

impl Tally {
    /// Its deaths beyond chance after `uses` uses at death rate `rate`, hangs all counted.
    #[inline]
    pub fn blame(&self, uses: u64, rate: f64) -> u32 {
        self.hangs + excess(self.deaths - self.hangs, uses, rate)
    }
}

/// How many of `deaths` are beyond chance for something used `uses` times when one execution
/// in `1 / rate` dies: the expected count plus three standard deviations (and one) are allowed.
#[inline]
pub fn excess(deaths: u32, uses: u64, rate: f64) -> u32 {
    let expected = rate * uses as f64;
    let allowed = expected + 3.0 * expected.sqrt() + 1.0;
    (f64::from(deaths) - allowed).max(0.0) as u32
}

impl Penalties {
    /// Records a child's death (a hang if `hang`) on `input`, mutated from the entry `parent`
    /// with `token` (0 for none).
    pub fn record(&mut self, input: &[u8], parent: u64, token: u64, hang: bool) {
        self.inputs.insert(hash64(input));
        self.total += 1;
        let hang = u32::from(hang);
        if parent != 0 {
            let p = self.parents.entry(parent).or_default();
            (p.0, p.1) = (p.0 + 1, p.1 + hang);
        }
        if token != 0 {
            // Slots are numbered from 1 and never reused: their counters start at zero.
            let next = self.tokens.len() as u32 + 1;
            let slot = if (next as usize) <= TOKEN_SLOTS { next } else { 0 };
            let t = self.tokens.entry(token).or_insert(Tally { deaths: 0, hangs: 0, slot });
            (t.deaths, t.hangs) = (t.deaths + 1, t.hangs + hang);
        }
    }

    /// Whether `input` already killed a child.
    pub fn is_known_bad(&self, input: &[u8]) -> bool {
        !self.inputs.is_empty() && self.inputs.contains(&hash64(input))
    }

    /// The worker's death rate after `execs` executions.
    #[inline]
    pub fn rate(&self, execs: u64) -> f64 {
        self.total as f64 / execs.max(1) as f64
    }

    /// Deaths beyond chance of mutants of the entry with id `parent`, picked `picks` times,
    /// after `execs` executions of the worker.
    pub fn parent_excess(&self, parent: u64, picks: u64, execs: u64) -> u32 {
        match self.parents.get(&parent) {
            Some(&(deaths, hangs)) => hangs + excess(deaths - hangs, picks, self.rate(execs)),
            None => 0,
        }
    }

    /// What a blamed token killed, and its use-counter slot.
    #[inline]
    pub fn token(&self, token: u64) -> Option<Tally> {
        if self.tokens.is_empty() {
            return None;
        }
        self.tokens.get(&token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_are_counted_per_parent_and_token() {
        let mut p = Penalties::default();
        assert!(!p.is_known_bad(b"H"));
        p.record(b"H", 7, hash64(b"H"), false);
        p.record(b"Hx", 7, 0, false);
        p.record(b"Hy", 7, hash64(b"G"), false);
        assert!(p.is_known_bad(b"H"));
        assert!(!p.is_known_bad(b"G"));
        assert_eq!(p.token(hash64(b"H")), Some(Tally { deaths: 1, hangs: 0, slot: 1 }));
        assert_eq!(p.token(hash64(b"G")), Some(Tally { deaths: 1, hangs: 0, slot: 2 }));
        assert_eq!(p.token(0), None);
        // Three deaths in three picks, after 1,000 executions: far beyond chance.
        assert_eq!(p.parent_excess(7, 3, 1000), 1);
        assert_eq!(p.parent_excess(8, 3, 1000), 0);
    }

    #[test]
    fn every_hang_is_blame() {
        let mut p = Penalties::default();
        p.record(b"LOOP:", 9, hash64(b"LOOP:"), true);
        assert_eq!(p.parent_excess(9, 1_000, 1_000), 1);
        assert_eq!(p.token(hash64(b"LOOP:")).unwrap().blame(1_000, 0.001), 1);
    }

    #[test]
    fn deaths_at_the_workers_rate_are_no_blame() {
        // One death in 1,000 executions everywhere: 10 deaths in 10,000 picks is chance.
        assert_eq!(excess(10, 10_000, 0.001), 0);
        assert_eq!(excess(20, 10_000, 0.001), 0);
        // The same entry dying in one pick out of ten is not.
        assert_eq!(excess(1_000, 10_000, 0.001), 979);
        // A first death is never blame on its own.
        assert_eq!(excess(1, 0, 0.0), 0);
        assert_eq!(excess(3, 0, 0.0), 2);
    }
}
