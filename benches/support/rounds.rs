//! Interleaved timing: every system runs one batch per round, in the same
//! order each round (A B C … A B C …), so drift on a shared machine (other
//! builds, frequency changes) lands on all of them alike. Each system's
//! minimum and median over the rounds are printed as ratios to the floor
//! measured in the same rounds.

use std::time::Duration;

/// One system under measurement: runs one batch and returns its time per
/// unit (request, key, burst…), in nanoseconds.
pub struct System<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut() -> f64 + 'a>,
}

impl<'a> System<'a> {
    pub fn new(name: &'static str, run: impl FnMut() -> f64 + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

/// Per-system samples, one per round.
pub struct Samples {
    pub names: Vec<&'static str>,
    pub samples: Vec<Vec<f64>>,
}

impl Samples {
    pub fn min(&self, name: &str) -> f64 {
        let s = &self.samples[self.index(name)];
        s.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn median(&self, name: &str) -> f64 {
        let mut s = self.samples[self.index(name)].clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }

    fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no system {name:?}"))
    }

    /// Prints each system's min and median and their ratios to `floor`.
    pub fn print(&self, title: &str, unit: &str, floor: &str) {
        let rounds = self.samples.first().map_or(0, Vec::len);
        println!(
            "\n== {title} ({rounds} interleaved rounds; ratios to `{floor}` from the same rounds)"
        );
        println!(
            "{:<28} {:>12} {:>12} {:>9} {:>9}",
            "system",
            format!("min {unit}"),
            format!("median {unit}"),
            "min/fl",
            "med/fl"
        );
        let (fmin, fmed) = (self.min(floor), self.median(floor));
        for name in &self.names {
            let (min, med) = (self.min(name), self.median(name));
            println!(
                "{name:<28} {} {} {:>9.3} {:>9.3}",
                fmt(min),
                fmt(med),
                min / fmin,
                med / fmed
            );
        }
    }

    /// `numerator / denominator` as min and median ratios, on one line.
    pub fn ratio(&self, label: &str, numerator: &str, denominator: &str, target: &str) {
        println!(
            "{label}: min {:.3}, median {:.3} (target {target})",
            self.min(numerator) / self.min(denominator),
            self.median(numerator) / self.median(denominator)
        );
    }
}

fn fmt(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:>12}", format!("{:.2} ms", ns / 1e6))
    } else {
        format!("{:>12}", format!("{ns:.0} ns"))
    }
}

/// Runs `warmup` unrecorded rounds, then `rounds` recorded ones, each round
/// one batch of every system in order.
pub fn interleave(rounds: usize, warmup: usize, mut systems: Vec<System<'_>>) -> Samples {
    let mut samples = vec![Vec::with_capacity(rounds); systems.len()];
    for round in 0..warmup + rounds {
        for (i, system) in systems.iter_mut().enumerate() {
            let ns = (system.run)();
            if round >= warmup {
                samples[i].push(ns);
            }
        }
    }
    Samples {
        names: systems.iter().map(|s| s.name).collect(),
        samples,
    }
}

/// Rounds from `BENCH_ROUNDS`, else `default` (a quick look: `BENCH_ROUNDS=3`).
pub fn rounds(default: usize) -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

pub fn per_unit(elapsed: Duration, units: usize) -> f64 {
    elapsed.as_nanos() as f64 / units as f64
}
