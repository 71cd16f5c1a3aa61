//! Samples of one measurement and the figures the report shows.

use std::time::Duration;

/// The durations of one measurement, in the order they were taken.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    times: Vec<Duration>,
}

impl Samples {
    /// Record one run.
    pub fn push(&mut self, time: Duration) {
        self.times.push(time);
    }

    /// How many runs were recorded.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut times = self.times.clone();
        times.sort();
        times
    }

    /// The `p`-th percentile (0–100), nearest rank; zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        let times = self.sorted();
        if times.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
        times[rank.clamp(1, times.len()) - 1]
    }

    /// The median (50th percentile).
    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 90th percentile.
    pub fn p90(&self) -> Duration {
        self.percentile(90.0)
    }

    /// The fastest run.
    pub fn min(&self) -> Duration {
        self.times.iter().min().copied().unwrap_or_default()
    }
}

/// A duration in milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// One row of the report.
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The samples.
    pub samples: Samples,
    /// The target for the median, if there is one.
    pub target: Option<Duration>,
}

impl Row {
    /// The row as a markdown table line.
    pub fn markdown(&self) -> String {
        let s = &self.samples;
        let (target, ratio, verdict) = match self.target {
            Some(t) => {
                let ratio = s.median().as_secs_f64() / t.as_secs_f64();
                let verdict = if s.median() < t { "met" } else { "missed" };
                (
                    format!("< {}", ms(t)),
                    format!("{ratio:.2}"),
                    verdict.to_string(),
                )
            }
            None => ("-".to_string(), "-".to_string(), "-".to_string()),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            self.name,
            s.len(),
            ms(s.median()),
            ms(s.p90()),
            ms(s.min()),
            target,
            ratio,
            verdict
        )
    }
}

/// The header of the report's table.
pub const HEADER: &str = "| Measurement | Runs | Median | p90 | Min | Target (median) | Median / target | Verdict |\n|---|---:|---:|---:|---:|---:|---:|---|";
