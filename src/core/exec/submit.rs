//! [`submit`]: where a call runs, and the [`Outcome`] it comes to.

use std::sync::Arc;

use super::outcome::Outcome;
use super::report::{Audience, Report};
use super::request::{Plan, Request, Steps, Work};
use super::runtime;
use crate::core::abort::{self, Abort, Abortable};
use crate::core::db::database::JournalState;
use crate::core::db::journal::Entry;
use crate::core::db::{Call, Database, Output};
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::metrics::Timer;
use crate::core::stamp::Stamped;

/// A submitted call: its outcome, when it was had on the caller's thread, or the job that will
/// come to it elsewhere. (Moved once, from `submit` to its caller: a job kept inline costs a
/// copy of a few hundred bytes, where a box would cost an allocation on every call.)
#[allow(clippy::large_enum_variant)]
pub enum Submitted {
    Ready(Outcome),
    /// An SQLite write that ran to its commit on the caller's thread.
    Written(Outcome),
    Later(Job),
}

/// Whether an SQLite write may run on the caller's thread when it finds the writer idle: the
/// caller allows it for a lone write, and refuses it within a burst (where queued writes commit
/// together, off its thread).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteNow {
    Allowed,
    Refused,
}

/// Work that runs off the caller's thread: [`Job::run`] starts it.
pub struct Job {
    db: Arc<Database>,
    work: Elsewhere,
    conclusion: Conclusion,
    /// The caller's abort, if it gave a signal: current while the work is queued and polled.
    abort: Option<Abort>,
}

enum Elsewhere {
    /// An SQLite write, on the writer thread.
    Writer(Call),
    /// A call on the runtime.
    Runtime(Call),
    /// Several calls in sequence, on the runtime.
    Steps(StepsFn),
}

/// Steps, as what starts them: their future is made only once a lane takes them.
type StepsFn = Box<dyn FnOnce(Arc<Database>) -> Steps + Send>;

/// Turns a result into the outcome: counts it, and applies the report.
struct Conclusion {
    timer: Timer,
    report: Report,
    source: &'static str,
    audience: Audience,
    /// A journaled write: counted in the journal's figures once it committed.
    counted: Option<Arc<JournalState>>,
    /// The ids the call is about, as fields of each record.
    ids: Vec<(&'static str, String)>,
}

/// `work` (a write) with `entry` journaled with it: a call gets the journal's INSERT as its
/// transaction's last statement; steps run under the entry's stamp and journal it once they
/// succeeded (before the caller hears of it).
fn journaled(work: Work, entry: Entry) -> Work {
    match work {
        Work::Call(mut call) => {
            call.tail = Some(Box::new(entry.statement()));
            Work::Call(call)
        }
        Work::WriteSteps(steps) => Work::write_steps(move |db: Arc<Database>| async move {
            let output = Stamped::new(entry.stamp, steps(db.clone())).await?;
            // The steps committed: their journal entry is written whatever the signal says.
            Abortable::new(None, db.write(vec![entry.statement()])).await?;
            Ok(output)
        }),
        other => other,
    }
}

impl Conclusion {
    fn conclude(self, result: Result<Output>) -> Outcome {
        if let (Some(journal), Ok(_)) = (&self.counted, &result) {
            journal
                .pending
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.timer.finish(&result);
        let aborted = matches!(&result, Err(e) if e.code == ErrorCode::Aborted);
        let mut outcome = self.report.conclude(self.source, self.audience, result);
        if aborted {
            // The caller stopped the call: nothing failed, nothing to say.
            outcome.logs.clear();
        }
        if !self.ids.is_empty() {
            for record in &mut outcome.logs {
                if let serde_json::Value::Object(fields) = &mut record.fields {
                    for (key, id) in &self.ids {
                        fields
                            .entry(*key)
                            .or_insert_with(|| serde_json::Value::from(id.as_str()));
                    }
                }
            }
        }
        outcome
    }
}

/// Submits `request` to `db`. Refused input, an SQLite point read and work with nothing to run
/// come to their outcome at once, on the caller's thread, and so does an SQLite write that finds
/// the writer idle when `now` allows it; anything else is a [`Job`].
pub fn submit(db: &Arc<Database>, request: Request, now: WriteNow) -> Submitted {
    let Request {
        operation,
        source,
        audience,
        plan: Plan { work, report, ids },
        journal,
    } = request;
    // Beyond `maxInFlight` a call is refused before anything runs (and counted as refused).
    let overloaded = db.overloaded();
    let conclusion = Conclusion {
        timer: db.metrics().start(operation),
        report,
        source,
        audience,
        counted: None,
        ids,
    };
    // On the fallback a write is journaled: a call in its own transaction, steps once they ran.
    let (work, counted) = match (work, journal.filter(|_| db.journaling())) {
        (Ok(work), Some(entry)) if work.writes() => (Ok(journaled(work, entry)), true),
        (work, _) => (work, false),
    };
    let conclusion = Conclusion {
        counted: counted.then(|| db.journal().clone()),
        ..conclusion
    };
    if let Some(e) = overloaded {
        return Submitted::Ready(conclusion.conclude(Err(e)));
    }
    let work = match work {
        Err(e) => return Submitted::Ready(conclusion.conclude(Err(e))),
        Ok(Work::Done(result)) => return Submitted::Ready(conclusion.conclude(result)),
        Ok(Work::Steps(steps) | Work::WriteSteps(steps)) => Elsewhere::Steps(steps),
        Ok(Work::Call(call)) => {
            if let Some(result) = db.call_now(&call) {
                return Submitted::Ready(conclusion.conclude(result));
            }
            if call.runs_on_writer(db.backend()) {
                if now == WriteNow::Allowed {
                    if let Some(result) = db.write_now(&call) {
                        return Submitted::Written(conclusion.conclude(result));
                    }
                }
                Elsewhere::Writer(call)
            } else {
                Elsewhere::Runtime(call)
            }
        }
    };
    Submitted::Later(Job {
        db: db.clone(),
        work,
        conclusion,
        abort: abort::current(),
    })
}

impl Job {
    /// Runs the work and hands its outcome to `done`, from the thread that finished it: the
    /// SQLite writer, or a runtime worker (as a call under way, which `close()` waits for).
    pub fn run(self, done: impl FnOnce(Outcome) + Send + 'static) {
        let Job {
            db,
            work,
            conclusion,
            abort,
        } = self;
        let start: StepsFn = match work {
            Elsewhere::Writer(call) => {
                return abort::scope(abort, || {
                    db.call_with(call, move |result| done(conclusion.conclude(result)))
                });
            }
            Elsewhere::Runtime(call) => Box::new(move |on: Arc<Database>| {
                Box::pin(async move { on.call(call).await }) as Steps
            }),
            Elsewhere::Steps(steps) => steps,
        };
        let Some(runtime) = runtime::handle() else {
            return done(conclusion.conclude(Err(Error::internal(
                "a database call was made outside the runtime",
            ))));
        };
        let under_way = db.begin_call();
        let lanes = db.lanes().clone();
        // Until a lane takes it, the call waits as this closure: its plan, not its future.
        lanes.run(
            &runtime,
            Box::new(move || {
                Box::pin(async move {
                    let _under_way = under_way;
                    let completion = Completion::new(Box::new(done), panicked);
                    let result = Abortable::new(abort, start(db)).await;
                    completion.finish(conclusion.conclude(result));
                })
            }),
        );
    }
}

/// Hands over a value exactly once: the one given to [`Completion::finish`], or — if it is
/// dropped first (a task that unwound) — the one `fallback` makes, so that a panic never leaves
/// a Promise pending (and the process held open by it).
pub struct Completion<T> {
    done: Option<Box<dyn FnOnce(T) + Send>>,
    fallback: fn() -> T,
}

impl<T> Completion<T> {
    pub fn new(done: Box<dyn FnOnce(T) + Send>, fallback: fn() -> T) -> Completion<T> {
        Completion {
            done: Some(done),
            fallback,
        }
    }

    pub fn finish(mut self, value: T) {
        if let Some(done) = self.done.take() {
            done(value);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done((self.fallback)());
        }
    }
}

/// The outcome of a task that unwound.
fn panicked() -> Outcome {
    Outcome::plain(Err(Error::internal("the operation panicked")))
}
