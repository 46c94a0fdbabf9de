//! What the fallback's journal replays onto the primary: every journaled method's plan, by the
//! name the journal keeps (`Class.method`, as [`promise_methods!`](super::call) declares them,
//! or `WorkflowEventHandlers.<event>`).

use super::call::Replan;
use super::database::DATABASE_METHODS;
use super::event_handlers::replan_event;
use super::executions::EXECUTION_METHODS;
use super::handlers::HANDLER_METHODS;
use super::metrics::METRICS_METHODS;
use super::persistence::{PERSISTENCE_METHODS, PERSISTENCE_SHARED_METHODS};
use super::workflow::{WORKFLOW_METHODS, WORKFLOW_SHARED_METHODS};
use crate::core::db::Dialect;
use crate::core::exec::Plan;
use crate::core::input::Input;

const TABLES: [&[(&str, Replan)]; 8] = [
    EXECUTION_METHODS,
    METRICS_METHODS,
    HANDLER_METHODS,
    WORKFLOW_METHODS,
    WORKFLOW_SHARED_METHODS,
    PERSISTENCE_METHODS,
    PERSISTENCE_SHARED_METHODS,
    DATABASE_METHODS,
];

/// The plan of the journaled call `method(args)` (a [`Replanner`](crate::core::exec::rejoin::Replanner)).
pub fn replan(method: &str, d: &Dialect, args: Vec<Input>) -> Option<Plan> {
    match TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|(name, _)| *name == method)
    {
        Some((_, plan)) => Some(plan(d, args)),
        None => replan_event(method, d, args),
    }
}
