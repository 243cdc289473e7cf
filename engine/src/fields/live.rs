//! Field extraction for kernel events plus process state.
