//! Who is calling, and may they: API keys, tenants' provider credentials, and the in-memory
//! directory the data plane checks them against.

pub mod crypto;
pub mod directory;
pub mod key;
pub mod refresh;

pub use directory::{Denied, Directory, Principal};
