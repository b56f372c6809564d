//! Latency histograms (µs, 3 significant digits) and their JSON.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// An empty histogram of microseconds, auto-resizing.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new(3)?)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `{"p50","p90","p99","max","mean"}` in milliseconds.
pub fn latency_ms(h: &Histogram<u64>) -> Value {
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

/// One line for humans.
pub fn latency_line(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    )
}

/// The median of a few samples (start-up times); 0 for none.
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

pub fn backend(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}
