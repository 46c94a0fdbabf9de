//! The one path every call takes. A binding method reads its arguments into a [`Request`] and
//! hands it to [`submit`]; the core chooses the thread (an SQLite point read at once on the
//! caller's thread, an SQLite write at once there too when the writer is idle and the caller
//! allows it, else on the writer thread, anything else on the runtime), runs
//! the work, counts it, lets the caches forget what it changed, and returns an [`Outcome`]:
//! the result with the log records to write and the events to publish, as data. The binding
//! settles the Promise with it.

pub mod outcome;
pub mod rejoin;
pub mod report;
pub mod request;
pub mod runtime;
pub mod submit;

pub use outcome::{Level, LogRecord, Outcome, Publish};
pub use report::{Audience, Report};
pub use request::{Plan, Request, Work};
pub use submit::{submit, Completion, Job, Submitted, WriteNow};
