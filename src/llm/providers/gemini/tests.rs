//! gemini tests (to be written).
