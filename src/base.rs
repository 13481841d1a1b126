//! The bottom layer: small helpers that every part of the gateway shares and that know nothing
//! of it. Nothing here imports the rest of the crate, so any module may import from here.
//!
//! `clock` (the monotonic clock of the host and the wall clock), `time` (durations and dates
//! as users write them), `hash` (a cheap 64-bit mix), `header` (header values made once and shared by every
//! request that sets them), `shm` (memory shared by the process tree,
//! the crate's one shared-memory type, and the number of process slots), `breaker` (the
//! consecutive-failure breaker of upstream targets and LLM deployments), `gcra` (the
//! rate-limit math every limit scope runs), `api_key` (the key format and its secret's hash)
//! and `cipher` (tenants' provider keys at rest). These last three are used by the
//! configuration, the store, the directory and the CLI alike, which is why they live below
//! all of them. `json_path` (the JSONPath subset of masking rules) is parsed by the
//! configuration and applied by telemetry. `json_schema` (the JSON Schema subset of prompt
//! APIs' input and output) is compiled by the configuration and checked on the request path;
//! so is `template` (`{{variable}}` text, split once, filled with values as data).
//! `http2` (how a Pingora peer is made to speak HTTP/2) serves upstream groups and LLM
//! providers alike. `boxed` builds a large future in its box instead of copying it there.
//! `json` reads JSON from bytes with UTF-8 checked once for the whole body; `body` gathers a
//! body read in pieces without copying one that came in one.

pub mod api_key;
pub mod body;
pub mod boxed;
pub mod breaker;
pub mod cipher;
pub mod clock;
pub mod gcra;
pub mod hash;
pub mod header;
pub mod http2;
pub mod json;
pub mod json_path;
pub mod json_schema;
pub mod shm;
pub mod template;
pub mod time;
