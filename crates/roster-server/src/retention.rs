//! Retention: the background task that trims what Roster keeps for a
//! while only. The event feed keeps [`DEFAULT_EVENT_RETENTION`] by default
//! (`--event-retention`); the audit trail keeps everything and is never
//! trimmed here. Other logs of the same kind (a webhook delivery log)
//! register themselves with [`Retention::also`].
//!
//! It trims once at start, then every [`INTERVAL`]. Every replica may run
//! it: a trim is a `DELETE` of rows older than an instant, which repeats
//! harmlessly.

use crate::state::AppState;
use futures::future::BoxFuture;
use roster_store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

/// How long events are kept when `--event-retention` is not given: 30 days.
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the trims run.
pub const INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A trim: removes what occurred before the instant it is given.
pub type TrimFn =
    Arc<dyn Fn(OffsetDateTime) -> BoxFuture<'static, Result<(), StoreError>> + Send + Sync>;

/// One log and how long it is kept.
struct Trim {
    name: &'static str,
    keep: Duration,
    trim: TrimFn,
}

/// The trims of one process: the event feed's, and any registered with
/// [`Retention::also`].
pub struct Retention {
    trims: Vec<Trim>,
    interval: Duration,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field(
                "trims",
                &self
                    .trims
                    .iter()
                    .map(|t| (t.name, t.keep))
                    .collect::<Vec<_>>(),
            )
            .field("interval", &self.interval)
            .finish()
    }
}

impl Retention {
    /// The event feed's trim, keeping `state.config.event_retention`.
    pub fn new(state: &AppState) -> Self {
        let store = state.store.clone();
        Self {
            trims: vec![Trim {
                name: "events",
                keep: state.config.event_retention,
                trim: Arc::new(move |before| {
                    let store = store.clone();
                    Box::pin(async move { store.trim_events(before).await })
                }),
            }],
            interval: INTERVAL,
        }
    }

    /// Also trims `name`, keeping `keep`: `trim(before)` removes what
    /// occurred before `before` (the hook for other logs, e.g. webhook
    /// deliveries).
    #[must_use]
    pub fn also(mut self, name: &'static str, keep: Duration, trim: TrimFn) -> Self {
        self.trims.push(Trim { name, keep, trim });
        self
    }

    /// Runs every trim once, as of `now`; a failed one is logged and the
    /// others still run. Returns how many failed.
    pub async fn run_once(&self, now: OffsetDateTime) -> usize {
        let mut failed = 0;
        for t in &self.trims {
            let keep = time::Duration::try_from(t.keep).unwrap_or(time::Duration::MAX);
            let before = now.checked_sub(keep).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            match (t.trim)(before).await {
                Ok(()) => tracing::debug!(log = t.name, before = %before, "trimmed"),
                Err(e) => {
                    failed += 1;
                    tracing::warn!(log = t.name, error = %e, "trimming failed; retrying later");
                }
            }
        }
        failed
    }

    /// Trims now, then every [`INTERVAL`], until the task is aborted or the
    /// runtime ends.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await; // the first tick is immediate
                self.run_once(OffsetDateTime::now_utc()).await;
            }
        })
    }
}

/// Parses a retention such as `30d`, `12h`, `90m` or `45s` (a whole number
/// and a unit, more than zero): the value parser of `--event-retention`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit: write e.g. `30d`, `12h`, `90m` or `45s`"))?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("`{raw}` is not a duration: write e.g. `30d`, `12h`, `90m` or `45s`")
    })?;
    let unit_secs: u64 = match unit {
        "d" => 24 * 3600,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "`{raw}`: the unit must be `d`, `h`, `m` or `s` (e.g. `30d`)"
            ))
        }
    };
    if n == 0 {
        return Err("must be more than zero".to_owned());
    }
    // At most a hundred years: beyond that, keeping is forever.
    const MAX_SECS: u64 = 100 * 365 * 24 * 3600;
    n.checked_mul(unit_secs)
        .filter(|s| *s <= MAX_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{raw}` is longer than a hundred years"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43200));
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration(" 1d ").unwrap(), Duration::from_secs(86400));
        for bad in [
            "",
            "0d",
            "0s",
            "30",
            "d",
            "30x",
            "-1d",
            "1.5h",
            "30 d",
            "1e3s",
            "99999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
