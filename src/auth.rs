//! Who is calling, and may they: the in-memory directory of API keys, apps and tenants' provider
//! credentials the data plane checks them against (`directory`), kept current from the store
//! (`refresh`), with the limits each key carries (`plans`). The key format and the cipher of
//! stored credentials are primitives in `base` (`api_key`, `cipher`), shared with the store,
//! the configuration and the CLI.

pub mod directory;
pub mod plans;
pub mod refresh;

pub use directory::{Denied, Directory, Principal};
