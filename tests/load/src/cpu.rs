//! Where a phase's CPU went: the marketplace's processes, PostgreSQL, NATS, the load tool.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::process::cpu_snapshot;

/// A CPU snapshot taken at the start of a phase.
#[derive(Debug)]
pub struct CpuMeter {
    start: BTreeMap<u32, (String, u64)>,
}

impl CpuMeter {
    /// Takes the starting snapshot.
    pub fn start() -> Self {
        Self {
            start: cpu_snapshot(),
        }
    }

    /// CPU seconds per group since the start: components by `names` (pid → name), PostgreSQL
    /// backends as `postgres`, this tool as `load-tool`, everything else as `other`.
    pub fn finish(&self, names: &BTreeMap<u32, String>) -> BTreeMap<String, f64> {
        let ticks_per_second = 100.0; // USER_HZ on Linux
        let me = std::process::id();
        let mut groups: BTreeMap<String, f64> = BTreeMap::new();
        for (pid, (comm, ticks)) in cpu_snapshot() {
            let before = self
                .start
                .get(&pid)
                .filter(|(c, _)| *c == comm)
                .map_or(0, |(_, t)| *t);
            let used = ticks.saturating_sub(before);
            if used == 0 {
                continue;
            }
            let group = if let Some(name) = names.get(&pid) {
                name.clone()
            } else if pid == me {
                "load-tool".into()
            } else if comm.starts_with("postgres") {
                "postgres".into()
            } else {
                "other".into()
            };
            *groups.entry(group).or_default() += used as f64 / ticks_per_second;
        }
        groups
    }
}

/// Prints CPU seconds per group and per unit of work (e.g. per order).
pub fn print_cpu(title: &str, groups: &BTreeMap<String, f64>, elapsed: Duration, units: usize) {
    let total: f64 = groups.values().sum();
    println!(
        "\n== CPU during {title}: {total:.1} s over {:.1} s wall ({:.2} cores busy)",
        elapsed.as_secs_f64(),
        total / elapsed.as_secs_f64().max(1e-9)
    );
    let mut sorted: Vec<_> = groups.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(a.1));
    for (name, seconds) in sorted {
        println!(
            "{name:<14} {seconds:>7.2} s {:>5.1}%  {:>7.3} ms per unit",
            100.0 * seconds / total.max(1e-9),
            1000.0 * seconds / units.max(1) as f64
        );
    }
}
