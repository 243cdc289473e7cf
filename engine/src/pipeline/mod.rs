//! The pipeline: pinned workers, channels, metrics and latency histograms.
