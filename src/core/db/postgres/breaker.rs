//! Failing fast while PostgreSQL is known to be down. After a call finds the server
//! unreachable, the next calls are refused at once (`ERR_DB_UNAVAILABLE`, in microseconds
//! instead of a connection timeout each) until a pause has passed; then one call goes through
//! as a probe: its success lets every call through again, its failure doubles the pause (up to
//! [`MAX_PAUSE`]).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::core::db::sync::lock;
use crate::core::error::{Error, ErrorCode, Result};

/// The first pause after a failure.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between probes.
const MAX_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Calls go through.
    Closed,
    /// Calls are refused until `until`; the pause after the next failure is `pause * 2`.
    Open { until: Instant, pause: Duration },
    /// One call (the probe) is under way; the others are refused.
    Probing { pause: Duration },
}

pub struct Breaker {
    state: Mutex<State>,
    /// Times calls went through again after the server had been found unreachable.
    recoveries: AtomicU64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: Mutex::new(State::Closed),
            recoveries: AtomicU64::new(0),
        }
    }
}

/// Whether an error says the server cannot be reached (rather than that a statement failed).
fn unreachable(err: &Error) -> bool {
    match err.code {
        ErrorCode::DbUnavailable => true,
        // The pool found no connection in time: every connection attempt failed.
        ErrorCode::Timeout => err.message.starts_with("timed out waiting"),
        _ => false,
    }
}

impl Breaker {
    /// Runs `call` unless the server is known to be down, and learns from its outcome.
    pub async fn run<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let probing = self.admit()?;
        let result = call.await;
        self.learn(probing, result.as_ref().err());
        result
    }

    /// Whether calls are being refused (the server was found unreachable and no probe has
    /// succeeded since).
    pub fn is_open(&self) -> bool {
        !matches!(*lock(&self.state), State::Closed)
    }

    /// Times calls went through again after the server had been found unreachable.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Ok(whether this call is the probe), or the refusal.
    fn admit(&self) -> Result<bool> {
        let mut state = lock(&self.state);
        match *state {
            State::Closed => Ok(false),
            State::Open { until, pause } if Instant::now() >= until => {
                *state = State::Probing { pause };
                Ok(true)
            }
            State::Open { until, .. } => {
                Err(refused(until.saturating_duration_since(Instant::now())))
            }
            State::Probing { .. } => Err(refused(Duration::ZERO)),
        }
    }

    fn learn(&self, probing: bool, err: Option<&Error>) {
        let mut state = lock(&self.state);
        let pause = match *state {
            State::Open { pause, .. } | State::Probing { pause } => pause,
            State::Closed => FIRST_PAUSE / 2,
        };
        match err {
            Some(e) if unreachable(e) => {
                let pause = (pause * 2).clamp(FIRST_PAUSE, MAX_PAUSE);
                if probing || *state == State::Closed {
                    tracing::warn!(
                        pause_ms = pause.as_millis() as u64,
                        "PostgreSQL is unreachable; calls fail fast until a probe succeeds"
                    );
                }
                *state = State::Open {
                    until: Instant::now() + pause,
                    pause,
                };
            }
            // Any answer from the server (a result, or a statement's own error) means it is up.
            _ if probing => {
                *state = State::Closed;
                self.recoveries.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn refused(next_probe_in: Duration) -> Error {
    Error::new(
        ErrorCode::DbUnavailable,
        format!(
            "PostgreSQL is unreachable (failing fast; the next attempt in {} ms)",
            next_probe_in.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Error {
        Error::new(ErrorCode::DbUnavailable, "PostgreSQL is unreachable")
    }

    #[tokio::test]
    async fn opens_on_unreachability_probes_after_the_pause_and_closes_on_success() {
        let b = Breaker::default();
        assert!(b.run(async { Ok(1) }).await.is_ok());
        // A statement's own failure says nothing about reachability.
        let failed: Result<()> = b.run(async { Err(Error::validation("bad")) }).await;
        assert_eq!(failed.unwrap_err().code, ErrorCode::Validation);
        assert!(b.run(async { Ok(()) }).await.is_ok());

        let r: Result<()> = b.run(async { Err(down()) }).await;
        assert_eq!(r.unwrap_err().message, "PostgreSQL is unreachable");
        let fast: Result<()> = b.run(async { panic!("must not run while open") }).await;
        let err = fast.unwrap_err();
        assert_eq!(err.code, ErrorCode::DbUnavailable);
        assert!(err.message.contains("failing fast"));

        tokio::time::sleep(FIRST_PAUSE + Duration::from_millis(20)).await;
        // The probe fails: the pause doubles.
        let r: Result<()> = b.run(async { Err(down()) }).await;
        assert!(r.is_err());
        match *lock(&b.state) {
            State::Open { pause, .. } => assert_eq!(pause, FIRST_PAUSE * 2),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(FIRST_PAUSE * 2 + Duration::from_millis(20)).await;
        assert!(b.is_open());
        assert_eq!(b.recoveries(), 0);
        assert_eq!(b.run(async { Ok(7) }).await.unwrap(), 7);
        assert_eq!(*lock(&b.state), State::Closed);
        assert!(!b.is_open());
        assert_eq!(b.recoveries(), 1);
    }

    #[test]
    fn pool_timeouts_count_statement_timeouts_do_not() {
        assert!(unreachable(&Error::new(
            ErrorCode::Timeout,
            "timed out waiting for a PostgreSQL connection"
        )));
        assert!(!unreachable(&Error::new(
            ErrorCode::Timeout,
            "the statement was cancelled"
        )));
    }
}
