//! The pipeline: pinned workers, channels, metrics and latency histograms,
//! and the health/metrics web server.

pub mod falco_metrics;
pub mod http;
pub mod metrics;
pub mod tamper;
pub mod worker;
