//! What a binding method hands the core: the work, what it is counted under, and what to say
//! about it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::report::{Audience, Report};
use crate::core::db::journal::Entry;
use crate::core::db::{Call, Database, Output};
use crate::core::error::Result;
use crate::core::input::Input;

/// A future of several calls in sequence.
pub type Steps = Pin<Box<dyn Future<Output = Result<Output>> + Send>>;

/// The work of a request.
pub enum Work {
    /// One repository call (one statement, or one transaction).
    Call(Call),
    /// Several calls in sequence: an async function over the database.
    Steps(Box<dyn FnOnce(Arc<Database>) -> Steps + Send>),
    /// Several calls in sequence that write (journaled on the fallback, as a whole).
    WriteSteps(Box<dyn FnOnce(Arc<Database>) -> Steps + Send>),
    /// Nothing to run: the result is known (an event that writes nothing).
    Done(Result<Output>),
}

impl Work {
    /// Several calls in sequence, as `steps(db)` runs them.
    pub fn steps<F, Fut>(steps: F) -> Work
    where
        F: FnOnce(Arc<Database>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Output>> + Send + 'static,
    {
        Work::Steps(Box::new(move |db| Box::pin(steps(db))))
    }

    /// Several calls in sequence that write, as `steps(db)` runs them.
    pub fn write_steps<F, Fut>(steps: F) -> Work
    where
        F: FnOnce(Arc<Database>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Output>> + Send + 'static,
    {
        Work::WriteSteps(Box::new(move |db| Box::pin(steps(db))))
    }

    /// Whether it writes (what the fallback journals).
    pub fn writes(&self) -> bool {
        match self {
            Work::Call(call) => call.writes(),
            Work::WriteSteps(_) => true,
            Work::Steps(_) | Work::Done(_) => false,
        }
    }
}

/// What a method does: the work, or why the input was refused (nothing runs then), and what
/// to report once it ended.
pub struct Plan {
    pub work: Result<Work>,
    pub report: Report,
    /// The ids the call is about (`executionId`, `handlerType`), added to each of its log
    /// records as fields.
    pub ids: Vec<(&'static str, String)>,
}

impl Plan {
    pub fn new(work: Result<Work>, report: Report) -> Plan {
        Plan {
            work,
            report,
            ids: Vec::new(),
        }
    }

    /// The plan, with `key` among the ids its records carry when `input` (or, in an object, its
    /// member `key`) is a string.
    pub fn about(mut self, key: &'static str, input: &Input) -> Plan {
        let id = match input {
            Input::Text(id) => Some(id),
            Input::Object(members) => members.iter().find_map(|(k, v)| match v {
                Input::Text(id) if k == key => Some(id),
                _ => None,
            }),
            _ => None,
        };
        if let Some(id) = id {
            self.ids.push((key, id.clone()));
        }
        self
    }
}

/// A repository call, which reports nothing.
impl From<Result<Call>> for Plan {
    fn from(call: Result<Call>) -> Plan {
        Plan::new(call.map(Work::Call), Report::Quiet)
    }
}

/// A repository method's work (several calls), which reports nothing.
impl From<Result<Work>> for Plan {
    fn from(work: Result<Work>) -> Plan {
        Plan::new(work, Report::Quiet)
    }
}

/// One call, as a binding method submits it.
pub struct Request {
    /// What it is counted under in the metrics: the rejection's prefix ("Failed to …").
    pub operation: &'static str,
    /// The class whose method it is, as log lines name it.
    pub source: &'static str,
    /// Whose logger the records are for.
    pub audience: Audience,
    pub plan: Plan,
    /// On the fallback: the call as its journal keeps it, the plan made under its stamp.
    pub journal: Option<Entry>,
}
