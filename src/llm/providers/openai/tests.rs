//! openai tests (to be written).
