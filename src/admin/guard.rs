//! An admin handler always answers: a panic inside one becomes an error value here (the caller
//! answers 500), instead of unwinding out of the connection task, which would close the
//! connection with no answer at all. The process keeps unwinding panics (no `panic = "abort"`),
//! so catching one per poll is enough; the default hook has printed it to stderr already.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs a future, turning a panic in any of its polls into `Err(the panic's message)`.
pub struct Guarded<F>(Pin<Box<F>>);

impl<F: Future> Guarded<F> {
    pub fn new(future: F) -> Guarded<F> {
        Guarded(Box::pin(future))
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // AssertUnwindSafe: after a panic the future is never polled again, and what it held
        // (the session, the store lock) is either dropped or safe to reuse (see `api::Shared`).
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(message(payload.as_ref()))),
        }
    }
}

/// What `panic!` was given, when it is text.
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_result_passes_through_and_a_panic_becomes_an_error() {
        assert_eq!(Guarded::new(async { 7 }).await, Ok(7));
        let after_a_wait = async {
            tokio::task::yield_now().await;
            "late"
        };
        assert_eq!(Guarded::new(after_a_wait).await, Ok("late"));
        let boom = async {
            tokio::task::yield_now().await;
            let years: Vec<u32> = Vec::new();
            if years.is_empty() {
                panic!("formatting year {}", 10_026);
            }
            0
        };
        assert_eq!(
            Guarded::new(boom).await,
            Err("formatting year 10026".to_string())
        );
    }

    /// The admin's own answer to a panic (here the one of defect 3: a year past 9999 given
    /// to the RFC 3339 formatter): a 500 in the admin error shape.
    #[tokio::test]
    async fn the_admin_answer_to_a_panic_is_a_json_500() {
        let resp = super::super::guarded(async {
            let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
            let date = humantime::format_rfc3339_seconds(far).to_string();
            super::super::reply(200, "text/plain", date)
        })
        .await
        .unwrap_err();
        assert_eq!(resp.status(), 500);
        let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(body["error"]["type"], "admin_error");
        assert_eq!(body["error"]["code"], 500);
    }
}
