//! `WorkflowEventHandlers`' 14 planned events: [`kind`] names them, [`parse`] reads a payload
//! once into a typed [`Event`], [`writes`] turns it into one transaction, and [`conclude`]
//! says what is logged and published once it committed.

pub mod conclude;
pub mod guarded;
pub mod kind;
pub mod parse;
pub mod writes;

pub use conclude::{FollowUp, Handled};
pub use kind::{canonical, EventKind};
pub use parse::Event;
pub use writes::EventWork;

use crate::core::db::{Dialect, Output};
use crate::core::error::{Error, Result};
use crate::core::exec::report::Report;
use crate::core::exec::request::{Plan, Work};
use crate::core::input::Input;
use crate::core::value::now_millis;

/// The writes of the event named `event_type` for the payload `event`.
pub fn plan(d: &Dialect, event_type: &str, event: &Input) -> Result<EventWork> {
    let kind = EventKind::from_name(event_type)
        .ok_or_else(|| Error::validation("event type is not one of the handled events"))?;
    Event::parse(kind, event)?.writes(d, now_millis())
}

/// What handling `event` as an event of `kind` does: its writes (none for some), reported as
/// the event handlers report (see [`Handled`]). Err when the payload does not validate.
pub fn plan_event(d: &Dialect, kind: EventKind, event: &Input) -> Result<Plan> {
    let work = Event::parse(kind, event)?.writes(d, now_millis())?;
    let report = Report::By(Box::new(work.handled(kind)));
    let work = match work.call {
        Some(call) => Work::Call(call),
        None => Work::Done(Ok(Output::Null)),
    };
    Ok(Plan::new(Ok(work), report))
}
