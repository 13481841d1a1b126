//! anthropic tests (to be written).
