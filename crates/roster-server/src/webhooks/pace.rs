//! Deliveries yield to writes. While the write path is saturated (jobs
//! queued behind a commit within the last [`WINDOW`]), all subscriptions
//! together make at most [`WebhookConfig::rate_under_load`] attempts per
//! second, in the order they ask; otherwise they go as fast as their
//! endpoints answer.
//!
//! Why: a delivery behind a saturating write load is never caught up, so
//! unpaced it takes every cycle it can get, and on a small machine whatever
//! runs beside the single writer slows each commit (on the two-core machine
//! of docs/benchmarks.md a busy loop at the lowest CPU priority alone takes
//! 12–23 % off Yuno writes). Writes are what callers wait for; deliveries
//! catch up when the load drops, and `roster_webhook_backlog_seconds`
//! shows how far behind they are meanwhile.
//!
//! [`WebhookConfig::rate_under_load`]: super::WebhookConfig::rate_under_load

use crate::writer::Contention;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long after jobs last queued behind a commit deliveries stay paced.
pub const WINDOW: Duration = Duration::from_millis(250);

/// The pace shared by a process's subscription tasks.
#[derive(Debug)]
pub struct Pace {
    contention: Contention,
    /// Time between two attempts while writes are saturated (`None`: never
    /// paced).
    interval: Option<Duration>,
    /// The next free slot.
    next: Mutex<Instant>,
}

impl Pace {
    /// At most `per_second` attempts per second while `contention` says the
    /// writer is saturated (`0`: never paced).
    pub fn new(contention: Contention, per_second: u32) -> Self {
        Self {
            contention,
            interval: (per_second > 0).then(|| Duration::from_secs(1) / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this attempt's turn: at once while the writer keeps up,
    /// else for the next free slot (slots are taken in the order asked).
    /// Whether it was paced.
    pub async fn turn(&self) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        if !self.contention.within(WINDOW) {
            return false;
        }
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` turns taken one after another, on the paused clock.
    async fn turns(pace: &Pace, n: u32) -> Duration {
        let started = Instant::now();
        for _ in 0..n {
            pace.turn().await;
        }
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_saturated_writer_spaces_attempts_by_the_rate() {
        let contention = Contention::default();
        let pace = Pace::new(contention.clone(), 100);
        contention.note();
        // The first turn is free; each next one waits 10 ms.
        assert_eq!(turns(&pace, 5).await, Duration::from_millis(40));
        // Turns asked together are served one slot apart, in order.
        contention.note();
        let started = Instant::now();
        let (a, b, c) = tokio::join!(
            async {
                pace.turn().await;
                started.elapsed()
            },
            async {
                pace.turn().await;
                started.elapsed()
            },
            async {
                pace.turn().await;
                started.elapsed()
            },
        );
        assert_eq!(
            [a, b, c],
            [10, 20, 30].map(Duration::from_millis),
            "the slot after the last one taken, then one apart"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_keeping_up_or_no_rate_means_no_wait() {
        let contention = Contention::default();
        let pace = Pace::new(contention.clone(), 100);
        assert_eq!(turns(&pace, 5).await, Duration::ZERO, "never contended");
        contention.note();
        tokio::time::sleep(WINDOW + Duration::from_millis(1)).await;
        assert_eq!(
            turns(&pace, 5).await,
            Duration::ZERO,
            "contended too long ago"
        );
        contention.note();
        let unpaced = Pace::new(contention.clone(), 0);
        assert_eq!(
            turns(&unpaced, 5).await,
            Duration::ZERO,
            "rate 0: never paced"
        );
        assert_eq!(
            turns(&pace, 2).await,
            Duration::from_millis(10),
            "paced again"
        );
    }
}
