//! Command-line clients of a running gateway: `http` is the small HTTP/1.1 client they use.

pub mod http;
#[cfg(test)]
mod test_server;
