//! The in-memory corpus and its scheduler. Each entry keeps the edges it covers; every so
//! often weights are recomputed so that inputs holding rare edges, inputs that are the
//! smallest holder of some edge ("favoured", as in AFL), small inputs and fresh inputs are
//! picked more, and inputs fuzzed long without a find fade.

use crate::rng::Rng;

/// An entry's bytes (or features): its own allocation, or borrowed from the warm-restart
/// log (see `warm`), where every entry is kept anyway: a restarted child then reloads
/// megabytes of corpus without copying them.
pub enum Bytes<T: 'static> {
    /// Owned.
    Owned(Box<[T]>),
    /// In the warm-restart log (never unmapped, never rewritten while this process lives).
    Shared(&'static [T]),
}

impl<T> std::ops::Deref for Bytes<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Shared(s) => s,
        }
    }
}

impl<T> From<Vec<T>> for Bytes<T> {
    fn from(v: Vec<T>) -> Self {
        Bytes::Owned(v.into_boxed_slice())
    }
}

impl<T> From<Box<[T]>> for Bytes<T> {
    fn from(b: Box<[T]>) -> Self {
        Bytes::Owned(b)
    }
}

/// One corpus entry.
pub struct Entry {
    /// The input.
    pub data: Bytes<u8>,
    /// Its id (a hash of `data`): what the fork server's penalties know it by.
    pub id: u64,
    /// Children killed by its mutants in earlier children of this worker, beyond what the
    /// worker's death rate explains (`penalty::excess`).
    pub deaths: u32,
    /// Edge indices it covers.
    pub edges: Bytes<u32>,
    /// Times it was picked for mutation.
    pub fuzzed: u64,
    /// New corpus entries its mutants produced.
    pub finds: u64,
    /// Moving average of its mutants' execution times, in µs (0: not measured).
    pub cost: f64,
    favored: bool,
}

impl Entry {
    /// Whether it is the smallest holder of some edge (as of the last refresh).
    pub fn favored(&self) -> bool {
        self.favored
    }
}

const NONE: u32 = u32::MAX;

/// The corpus.
pub struct Corpus {
    entries: Vec<Entry>,
    /// Running sum of weights, for picking by binary search.
    cumulative: Vec<f64>,
    /// Per edge: the smallest entry covering it.
    best: Vec<u32>,
    /// Scratch for `refresh`: how many entries hold each feature.
    freq: Vec<u32>,
    dirty: bool,
    /// Weigh entries by how rare their features are (off: freshness, size and yield only).
    rarity: bool,
    /// Typical execution time, in the unit of `Entry::cost` (0: not measured).
    typical_cost: f64,
}

impl Corpus {
    /// An empty corpus for a map of `map_len` edges.
    pub fn new(map_len: usize) -> Self {
        Corpus {
            entries: Vec::new(),
            cumulative: Vec::new(),
            best: vec![NONE; map_len],
            freq: Vec::new(),
            dirty: false,
            rarity: true,
            typical_cost: 0.0,
        }
    }

    /// Turns rare-feature weighting on or off (a worker variant).
    pub fn set_rarity(&mut self, on: bool) {
        self.rarity = on;
    }

    /// Size of the feature space (edges plus value-profile features).
    pub fn feature_space(&self) -> usize {
        self.best.len()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> &Entry {
        &self.entries[i]
    }

    /// Entry `i`, mutably (counters).
    pub fn get_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.entries[i]
    }

    /// Largest input held.
    pub fn max_input_len(&self) -> usize {
        self.entries.iter().map(|e| e.data.len()).max().unwrap_or(0)
    }

    /// Adds an input (with its id and the deaths its mutants caused) with the edges it
    /// covers; it starts with a fresh-entry weight until the next [`Corpus::refresh`].
    pub fn add(&mut self, data: impl Into<Bytes<u8>>, id: u64, deaths: u32, edges: impl Into<Bytes<u32>>) -> usize {
        let (data, edges) = (data.into(), edges.into());
        let index = self.entries.len() as u32;
        for &e in edges.iter() {
            let slot = &mut self.best[e as usize];
            // (`index` itself when an edge is listed twice: nothing to compare.)
            if *slot == NONE || (*slot != index && self.entries[*slot as usize].data.len() > data.len()) {
                *slot = index;
            }
        }
        self.entries.push(Entry { data, id, deaths, edges, fuzzed: 0, finds: 0, cost: 0.0, favored: true });
        let prev = self.cumulative.last().copied().unwrap_or(0.0);
        let fresh = self.mean_weight().max(1.0) * 2.0 / death_penalty(deaths);
        self.cumulative.push(prev + fresh);
        self.dirty = true;
        index as usize
    }

    fn mean_weight(&self) -> f64 {
        match self.cumulative.last() {
            Some(total) if !self.cumulative.is_empty() => total / self.cumulative.len() as f64,
            _ => 1.0,
        }
    }

    /// Picks an entry to mutate, by weight.
    #[inline]
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("corpus is never empty while fuzzing");
        let x = rng.unit() * total;
        self.cumulative.partition_point(|&c| c <= x).min(self.entries.len() - 1)
    }

    /// Sets the typical execution time entries' costs are weighed against (see `weight`),
    /// and asks for a refresh when an entry just became costly.
    pub fn set_typical_cost(&mut self, cost: f64, reweigh: bool) {
        self.typical_cost = cost;
        self.dirty |= reweigh;
    }

    /// Whether entries were added (or became costly) since the last refresh.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Recomputes favoured entries and weights.
    pub fn refresh(&mut self) {
        // Reset only the features entries hold: the feature space is large (edges plus value
        // profile) and mostly untouched.
        let freq = &mut self.freq;
        freq.resize(self.best.len(), 0);
        for e in &self.entries {
            for &i in e.edges.iter() {
                freq[i as usize] = 0;
            }
        }
        for e in &self.entries {
            for &i in e.edges.iter() {
                freq[i as usize] += 1;
            }
        }
        for e in &mut self.entries {
            e.favored = false;
        }
        for &b in &self.best {
            if b != NONE {
                self.entries[b as usize].favored = true;
            }
        }
        let mut total = 0.0;
        self.cumulative.clear();
        for e in &self.entries {
            total += weight(e, &self.freq, self.rarity, self.typical_cost);
            self.cumulative.push(total);
        }
        self.dirty = false;
    }
}

/// An entry's weight: rare features, favoured, small, fresh and productive entries up; entries
/// whose mutants killed children down; and entries whose mutants are slow down in proportion
/// to their time (what an entry returns per second, not per execution, is what counts: a
/// header-sized allocation or a slow path behind a prefix would otherwise take the campaign's
/// time), bounded so that a slow entry is never dropped and a fast one never dominates.
fn weight(e: &Entry, freq: &[u32], rarity: bool, typical_cost: f64) -> f64 {
    let rarity: f64 =
        if rarity { e.edges.iter().map(|&i| 1.0 / f64::from(freq[i as usize].max(1))).sum() } else { 0.0 };
    let favored = if e.favored { 1.0 } else { 0.2 };
    let size = 1.0 / (1.0 + e.data.len() as f64 / 512.0);
    let fresh = if e.fuzzed == 0 { 4.0 } else { 1.0 };
    let yield_ = (1.0 + e.finds as f64) / (1.0 + e.fuzzed as f64 / 8192.0);
    let speed = if e.cost > typical_cost && typical_cost > 0.0 { (typical_cost / e.cost).max(1e-6) } else { 1.0 };
    (favored * (1.0 + rarity) * size * fresh * yield_ * speed / death_penalty(e.deaths)).max(1e-9)
}

/// How much less an entry is picked after its mutants killed `deaths` children (a known hang
/// one arithmetic step away would otherwise be re-hit all campaign long).
fn death_penalty(deaths: u32) -> f64 {
    let d = f64::from(deaths.min(1000));
    (1.0 + d) * (1.0 + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_edge_holders_are_picked_more_than_redundant_ones() {
        let mut c = Corpus::new(100);
        // Ten entries share edges 0..10; one entry alone holds edges 50..60.
        for k in 0..10u8 {
            c.add(vec![k; 8], 0, 0, (0..10).collect::<Vec<u32>>());
        }
        let rare = c.add(vec![0xaa; 8], 0, 0, (50..60).collect::<Vec<u32>>());
        for i in 0..c.len() {
            c.get_mut(i).fuzzed = 100;
        }
        c.refresh();
        let mut rng = Rng::new(9);
        let mut hits = vec![0usize; c.len()];
        for _ in 0..20_000 {
            hits[c.pick(&mut rng)] += 1;
        }
        let others_max = hits[..10].iter().copied().max().unwrap();
        assert!(hits[rare] > 3 * others_max, "rare {} vs others max {others_max}", hits[rare]);
    }

    #[test]
    fn smallest_holder_of_an_edge_is_favored() {
        let mut c = Corpus::new(10);
        let big = c.add(vec![0; 100], 0, 0, vec![1u32, 2]);
        let small = c.add(vec![0; 3], 0, 0, vec![1u32, 2]);
        c.refresh();
        assert!(c.get(small).favored);
        assert!(!c.get(big).favored);
    }

    #[test]
    fn entries_whose_mutants_killed_children_are_picked_less() {
        let mut c = Corpus::new(10);
        let calm = c.add(vec![1; 4], 1, 0, vec![1u32]);
        let deadly = c.add(vec![2; 4], 2, 5, vec![2u32]);
        c.refresh();
        let mut rng = Rng::new(3);
        let mut hits = [0usize; 2];
        for _ in 0..20_000 {
            hits[c.pick(&mut rng)] += 1;
        }
        assert!(hits[calm] > 20 * hits[deadly], "calm {} vs deadly {}", hits[calm], hits[deadly]);
    }

    #[test]
    fn entries_with_slow_mutants_are_picked_in_proportion_to_their_speed() {
        let mut c = Corpus::new(10);
        let fast = c.add(vec![1; 4], 1, 0, vec![1u32]);
        let slow = c.add(vec![2; 4], 2, 0, vec![2u32]);
        (c.get_mut(fast).cost, c.get_mut(slow).cost) = (1000.0, 1000.0 * 1000.0);
        c.set_typical_cost(1000.0, true);
        c.refresh();
        let mut rng = Rng::new(5);
        let mut hits = [0usize; 2];
        for _ in 0..100_000 {
            hits[c.pick(&mut rng)] += 1;
        }
        // A thousand times slower: about a thousand times rarer (never never).
        assert!((30..300).contains(&hits[slow]), "fast {} vs slow {}", hits[fast], hits[slow]);
    }

    #[test]
    fn a_feature_listed_twice_is_harmless() {
        let mut c = Corpus::new(10);
        let first = c.add(vec![1; 4], 1, 0, vec![3u32, 3, 5]);
        c.add(vec![2; 2], 2, 0, vec![5u32, 5]);
        c.refresh();
        assert!(c.get(first).favored, "still the smallest holder of edge 3");
    }

    #[test]
    fn pick_stays_in_range() {
        let mut c = Corpus::new(4);
        c.add(Vec::new(), 0, 0, Vec::<u32>::new());
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert_eq!(c.pick(&mut rng), 0);
        }
    }
}
