//! A future boxed where it is built. `Box::pin(fut)` builds the future on the stack and then
//! copies it whole into the box; an async function's future is as large as its largest state
//! (kilobytes for a provider call), so on a request path that copy costs more than the
//! allocation. Allocating the box first and writing the call's result into it lets the compiler
//! build the future in place.

use std::future::Future;
use std::pin::Pin;

/// `make()`'s future, built in its box.
#[inline(always)]
pub fn in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_boxed_future_runs_to_its_answer() {
        let n = 41;
        assert_eq!(super::in_place(|| async move { n + 1 }).await, 42);
    }
}
