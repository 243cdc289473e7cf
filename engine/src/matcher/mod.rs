//! Matching: the evt.type index, prefilters and the compiled evaluator, and
//! the plain reference interpreter used in differential tests.
