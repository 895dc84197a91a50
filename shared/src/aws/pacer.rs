//! A client-side token bucket, so a large prune stays under an API's own bucket (DeleteSnapshot:
//! burst 100, refill 5/s per account and region) instead of hammering into throttling.

use std::sync::Mutex;

use tokio::time::{sleep_until, Duration, Instant};

/// Tokens refill continuously at `per_second` up to `burst`; `acquire` waits for one.
#[derive(Debug)]
pub struct Pacer {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    /// `burst` ≥ 1 tokens, refilled at `per_second` > 0.
    pub fn new(burst: u32, per_second: f64) -> Self {
        assert!(
            burst >= 1 && per_second > 0.0,
            "pacer needs burst >= 1 and a positive rate"
        );
        Pacer {
            burst: f64::from(burst),
            per_second,
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// A pacer that never waits (tests against the emulator).
    pub fn unlimited() -> Self {
        Pacer::new(u32::MAX, f64::MAX)
    }

    /// Takes one token, waiting until one is available.
    pub async fn acquire(&self) {
        let wake = {
            let mut st = self.state.lock().expect("pacer lock");
            let now = Instant::now();
            let (tokens, last) = *st;
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst);
            if tokens >= 1.0 {
                *st = (tokens - 1.0, now);
                return;
            }
            // Reserve the next token: the balance goes negative and later callers queue behind.
            let wait = (1.0 - tokens) / self.per_second;
            *st = (tokens - 1.0, now);
            now + Duration::from_secs_f64(wait)
        };
        sleep_until(wake).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let p = Pacer::new(100, 5.0);
        let t0 = Instant::now();
        for _ in 0..100 {
            p.acquire().await;
        }
        assert!(t0.elapsed() < Duration::from_millis(1), "the burst is free");
        for _ in 0..50 {
            p.acquire().await;
        }
        let e = t0.elapsed().as_secs_f64();
        assert!(
            (9.9..=10.1).contains(&e),
            "50 more at 5/s take 10 s, took {e}"
        );
    }
}
