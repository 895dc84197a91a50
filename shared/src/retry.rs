//! The one retry loop: the strict fake's model of the SDK's retries (`aws::retry`, feature
//! `test-util`) and the in-process sweep's model of the state machine's Retry (`app::sweep`) both
//! run it, each with its own rule for what to retry and how long to wait.

use std::future::Future;

use tokio::time::{sleep, Duration};

/// Calls `call` up to `attempts` times in all, while it fails with an error `retryable` accepts,
/// sleeping `delay(n)` before retry `n` (0-based).
pub async fn retry<T, E, F, Fut>(
    attempts: u32,
    retryable: impl Fn(&E) -> bool,
    delay: impl Fn(u32) -> Duration,
    mut call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        match call().await {
            Err(e) if retryable(&e) && n + 1 < attempts => {
                let d = delay(n);
                if !d.is_zero() {
                    sleep(d).await;
                }
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_is_retryable_within_the_budget() {
        let calls = Cell::new(0);
        let r: Result<(), &str> = retry(
            3,
            |e: &&str| *e == "again",
            |_| Duration::ZERO,
            || {
                calls.set(calls.get() + 1);
                async { Err("again") }
            },
        )
        .await;
        assert_eq!((r, calls.get()), (Err("again"), 3));
        calls.set(0);
        let r: Result<(), &str> = retry(
            3,
            |e: &&str| *e == "again",
            |_| Duration::ZERO,
            || {
                calls.set(calls.get() + 1);
                async { Err("fatal") }
            },
        )
        .await;
        assert_eq!((r, calls.get()), (Err("fatal"), 1));
        calls.set(0);
        let start = tokio::time::Instant::now();
        let r: Result<u32, &str> = retry(
            5,
            |_: &&str| true,
            |n| Duration::from_secs(1 << n),
            || {
                calls.set(calls.get() + 1);
                let ok = calls.get() >= 4;
                async move {
                    if ok {
                        Ok(7)
                    } else {
                        Err("again")
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(7));
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4));
    }
}
