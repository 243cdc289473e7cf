//! Field extraction for JSON-lines events (keys are Falco field names).
