//! Header values the gateway makes once and sets on many requests (a route's `set` values, the
//! request id, the client address), shared so that each request's clone is a reference count.
//!
//! A `HeaderValue` made from a `&str` or a `Vec` holds a `Bytes` that allocates again the first
//! time it is cloned (to become shared); one made here is shared from the start, in a single
//! allocation that holds the bytes too when they are given inline (an array).

use bytes::Bytes;
use http::HeaderValue;

/// The bytes as a shared header value; `None` when they are not a valid header value.
pub fn shared_value(bytes: impl AsRef<[u8]> + Send + 'static) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from_owner(bytes)).ok()
}

/// The bytes as shared bytes (a header name's wire spelling, for Pingora's `insert_header`).
pub fn shared_bytes(bytes: impl AsRef<[u8]> + Send + 'static) -> Bytes {
    Bytes::from_owner(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_clone_without_copying() {
        let v = shared_value(*b"abc").unwrap();
        let c = v.clone();
        assert_eq!(c, "abc");
        assert_eq!(v.as_bytes().as_ptr(), c.as_bytes().as_ptr());
        assert!(shared_value(b"a\nb".to_vec()).is_none());
    }
}
