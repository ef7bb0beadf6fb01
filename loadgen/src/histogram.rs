//! Latency histograms: HDR histograms in microseconds that cross process boundaries as
//! base64 text of the V2 serialization, merge by addition and summarise as percentiles.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{
    Deserialize, Deserializer as SerdeDeserializer, Serialize, Serializer as SerdeSerializer,
};

/// Largest latency a histogram records, in microseconds: one hour, the longest run.
pub const MAX_RECORDABLE_MICROS: u64 = 3_600_000_000;

/// Significant decimal digits kept for every recorded value.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Percentiles shown in summaries and tables.
pub const SUMMARY_PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// Errors of histogram decoding and merging.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// The text is not base64.
    #[error("histogram text is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a V2 histogram.
    #[error("histogram bytes are not a valid V2 serialization: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    /// Two histograms could not be added.
    #[error("histograms cannot be merged: {0:?}")]
    Merge(hdrhistogram::AdditionError),
}

/// A latency distribution in microseconds, from 1 µs to [`MAX_RECORDABLE_MICROS`].
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl LatencyHistogram {
    /// Creates an empty histogram.
    pub fn new() -> Self {
        let inner = Histogram::new_with_bounds(1, MAX_RECORDABLE_MICROS, SIGNIFICANT_DIGITS)
            .expect("constant bounds are valid");
        Self { inner }
    }

    /// Records one latency. Values above the maximum are recorded as the maximum.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record_micros(micros);
    }

    /// Records one latency given in microseconds, clamped to the recordable range.
    pub fn record_micros(&mut self, micros: u64) {
        self.inner
            .saturating_record(micros.clamp(1, MAX_RECORDABLE_MICROS));
    }

    /// Records the time from `sent_unix_ns` to `received_unix_ns`. A negative difference,
    /// which a wall-clock step can cause, is recorded as 1 µs.
    pub fn record_between_unix_ns(&mut self, sent_unix_ns: u64, received_unix_ns: u64) {
        let micros = received_unix_ns.saturating_sub(sent_unix_ns) / 1_000;
        self.record_micros(micros);
    }

    /// Adds every value of `other` to this histogram.
    ///
    /// # Errors
    /// [`HistogramError::Merge`] when `other` has a wider range than this histogram allows.
    pub fn merge(&mut self, other: &LatencyHistogram) -> Result<(), HistogramError> {
        self.inner.add(&other.inner).map_err(HistogramError::Merge)
    }

    /// Returns the number of recorded values.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// Returns the value at `quantile` (0.0 to 1.0) in milliseconds, or 0 when empty.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.inner.is_empty() {
            return 0.0;
        }
        micros_to_ms(self.inner.value_at_quantile(quantile))
    }

    /// Summarises the distribution in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let empty = self.inner.is_empty();
        let pick = |value: u64| if empty { 0.0 } else { micros_to_ms(value) };
        LatencySummary {
            count: self.count(),
            min_ms: pick(self.inner.min()),
            mean_ms: if empty {
                0.0
            } else {
                self.inner.mean() / 1_000.0
            },
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            p9999_ms: self.quantile_ms(0.9999),
            max_ms: pick(self.inner.max()),
        }
    }

    /// Encodes the histogram as base64 text of its V2 serialization.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&self.inner, &mut bytes)
            .expect("serializing into a Vec cannot fail");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Decodes a histogram written by [`LatencyHistogram::to_base64`].
    ///
    /// # Errors
    /// [`HistogramError`] when the text is not base64 or not a V2 histogram.
    pub fn from_base64(text: &str) -> Result<Self, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(HistogramError::Decode)?;
        let mut histogram = Self::new();
        histogram
            .inner
            .add(&decoded)
            .map_err(HistogramError::Merge)?;
        Ok(histogram)
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

impl Serialize for LatencyHistogram {
    fn serialize<S: SerdeSerializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: SerdeDeserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Percentile summary of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of recorded values.
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values_micros: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        for value in values_micros {
            histogram.record_micros(value);
        }
        histogram
    }

    #[test]
    fn merge_adds_counts_and_shifts_percentiles() {
        let mut fast = filled((0..900).map(|_| 1_000));
        let slow = filled((0..100).map(|_| 100_000));
        fast.merge(&slow).unwrap();

        assert_eq!(fast.count(), 1_000);
        let summary = fast.summary();
        assert!((summary.p50_ms - 1.0).abs() < 0.01, "{summary:?}");
        assert!((summary.p99_ms - 100.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
        assert!((summary.min_ms - 1.0).abs() < 0.01, "{summary:?}");
    }

    #[test]
    fn merge_of_empty_keeps_values() {
        let mut histogram = filled([5_000, 7_000]);
        histogram.merge(&LatencyHistogram::new()).unwrap();
        assert_eq!(histogram.count(), 2);
    }

    #[test]
    fn base64_round_trip_preserves_values() {
        let histogram = filled([1, 10, 100, 1_000, 10_000, 3_000_000]);
        let text = histogram.to_base64();
        let decoded = LatencyHistogram::from_base64(&text).unwrap();
        assert_eq!(decoded, histogram);
        assert_eq!(decoded.count(), 6);
    }

    #[test]
    fn serde_round_trip_through_json() {
        let histogram = filled([250, 500]);
        let json = serde_json::to_string(&histogram).unwrap();
        assert!(json.starts_with('"'));
        let decoded: LatencyHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded, histogram);
    }

    #[test]
    fn invalid_text_rejected() {
        assert!(matches!(
            LatencyHistogram::from_base64("not base64!"),
            Err(HistogramError::Base64(_))
        ));
        let not_histogram = base64::engine::general_purpose::STANDARD.encode([1, 2, 3, 4, 5]);
        assert!(matches!(
            LatencyHistogram::from_base64(&not_histogram),
            Err(HistogramError::Decode(_))
        ));
    }

    #[test]
    fn out_of_range_values_clamped() {
        let mut histogram = LatencyHistogram::new();
        histogram.record(Duration::from_secs(7_200));
        histogram.record_micros(0);
        histogram.record_between_unix_ns(2_000_000, 1_000_000);
        assert_eq!(histogram.count(), 3);
        assert!(histogram.summary().max_ms >= 3_599_000.0);
        assert!(histogram.summary().min_ms <= 0.001);
    }

    #[test]
    fn empty_summary_is_zero() {
        let summary = LatencyHistogram::new().summary();
        assert_eq!(summary.count, 0);
        assert_eq!(summary.max_ms, 0.0);
        assert_eq!(summary.p99_ms, 0.0);
    }
}
