//! [`Faults`]: seeded, reproducible failure injection for the recording doubles.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// When a double fails an operation. Seeded, so a failing test fails the same way again.
#[derive(Debug)]
pub struct Faults {
    rng: Mutex<StdRng>,
    before: f64,
    after: f64,
}

/// What the double should do with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Do the work and succeed.
    None,
    /// Fail without doing anything (a refused request).
    Before,
    /// Do the work, then report a failure (a timeout after the far side acted): the
    /// unknown outcome the engine must not turn into a duplicate.
    After,
}

impl Faults {
    /// Never fails.
    pub fn none() -> Self {
        Self::new(0.0, 0.0, 0)
    }

    /// Fails a fraction `before` of calls before acting and `after` after acting.
    pub fn new(before: f64, after: f64, seed: u64) -> Self {
        Self { rng: Mutex::new(StdRng::seed_from_u64(seed)), before, after }
    }

    /// Draws the fate of one call.
    pub fn draw(&self) -> Fault {
        if self.before <= 0.0 && self.after <= 0.0 {
            return Fault::None;
        }
        let x: f64 = self.rng.lock().unwrap_or_else(|e| e.into_inner()).random();
        if x < self.before {
            Fault::Before
        } else if x < self.before + self.after {
            Fault::After
        } else {
            Fault::None
        }
    }
}
