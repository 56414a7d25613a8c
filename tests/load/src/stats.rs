//! Latency recording and the per-operation report (throughput, p50/p95/p99/max, errors).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Collects latencies and errors per operation name; cheap to clone and share between tasks.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<BTreeMap<String, Samples>>>,
}

#[derive(Debug, Default)]
struct Samples {
    micros: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Figures of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpFigures {
    /// Operation name, e.g. `rest.checkout`.
    pub op: String,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls.
    pub errors: u64,
    /// Successful calls per second over the phase.
    pub per_second: f64,
    /// Latency percentiles of successful calls, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest call, milliseconds.
    pub max_ms: f64,
    /// The first error seen, to explain a non-zero error count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Recorder {
    /// A new, empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one successful call.
    pub fn ok(&self, op: &str, took: Duration) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(op.to_string())
            .or_default()
            .micros
            .push(took.as_micros() as u64);
    }

    /// Records one failed call.
    pub fn error(&self, op: &str, error: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let samples = map.entry(op.to_string()).or_default();
        samples.errors += 1;
        samples.first_error.get_or_insert_with(|| error.to_string());
    }

    /// Times `call`, recording its outcome under `op`, and returns its result.
    pub async fn time<T, E: std::fmt::Display>(
        &self,
        op: &str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        match &result {
            Ok(_) => self.ok(op, started.elapsed()),
            Err(error) => self.error(op, &error.to_string()),
        }
        result
    }

    /// The figures of every operation, with throughput over `elapsed`.
    pub fn figures(&self, elapsed: Duration) -> Vec<OpFigures> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(op, samples)| figures_of(op, samples, elapsed))
            .collect()
    }
}

fn figures_of(op: &str, samples: &Samples, elapsed: Duration) -> OpFigures {
    let mut sorted = samples.micros.clone();
    sorted.sort_unstable();
    let ms = |micros: u64| micros as f64 / 1000.0;
    OpFigures {
        op: op.to_string(),
        ok: sorted.len() as u64,
        errors: samples.errors,
        per_second: sorted.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: ms(percentile(&sorted, 50.0)),
        p95_ms: ms(percentile(&sorted, 95.0)),
        p99_ms: ms(percentile(&sorted, 99.0)),
        max_ms: ms(sorted.last().copied().unwrap_or(0)),
        first_error: samples.first_error.clone(),
    }
}

/// Nearest-rank percentile of sorted samples (0 when empty).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints figures as an aligned table under `title`.
pub fn print_table(title: &str, figures: &[OpFigures]) {
    println!("\n== {title}");
    println!(
        "{:<34} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "operation", "ok", "err", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for f in figures {
        println!(
            "{:<34} {:>8} {:>6} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            f.op, f.ok, f.errors, f.per_second, f.p50_ms, f.p95_ms, f.p99_ms, f.max_ms
        );
        if let Some(error) = &f.first_error {
            println!("    first error: {}", truncate(error, 300));
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 99.0), 0);
    }

    #[test]
    fn figures_count_errors_apart_from_latencies() {
        let recorder = Recorder::new();
        recorder.ok("a", Duration::from_millis(2));
        recorder.ok("a", Duration::from_millis(4));
        recorder.error("a", "boom");
        let figures = recorder.figures(Duration::from_secs(1));
        assert_eq!(figures.len(), 1);
        assert_eq!(figures[0].ok, 2);
        assert_eq!(figures[0].errors, 1);
        assert_eq!(figures[0].p99_ms, 4.0);
        assert_eq!(figures[0].first_error.as_deref(), Some("boom"));
    }
}
