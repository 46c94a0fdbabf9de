//! The events `WorkflowEventHandlers` handles, by name.

/// One of the 14 planned events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    ExecutionStarted,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionCancelled,
    StepStarted,
    StepCompleted,
    StepFailed,
    HandlerStarted,
    HandlerCompleted,
    HandlerFailed,
    PerformanceMetric,
    PerformanceAlert,
    CleanupRequired,
    MaintenanceRequired,
}

/// The planned events, in the planned order, with their names.
pub const KINDS: [(EventKind, &str); 14] = [
    (EventKind::ExecutionStarted, "workflow.execution.started"),
    (
        EventKind::ExecutionCompleted,
        "workflow.execution.completed",
    ),
    (EventKind::ExecutionFailed, "workflow.execution.failed"),
    (
        EventKind::ExecutionCancelled,
        "workflow.execution.cancelled",
    ),
    (EventKind::StepStarted, "workflow.step.started"),
    (EventKind::StepCompleted, "workflow.step.completed"),
    (EventKind::StepFailed, "workflow.step.failed"),
    (EventKind::HandlerStarted, "handler.execution.started"),
    (EventKind::HandlerCompleted, "handler.execution.completed"),
    (EventKind::HandlerFailed, "handler.execution.failed"),
    (EventKind::PerformanceMetric, "workflow.performance.metric"),
    (EventKind::PerformanceAlert, "workflow.performance.alert"),
    (EventKind::CleanupRequired, "workflow.cleanup.required"),
    (
        EventKind::MaintenanceRequired,
        "workflow.maintenance.required",
    ),
];

/// The colon-style names PIDEA's handlers emit, and the planned event each stands for.
pub const ALIASES: [(&str, EventKind); 3] = [
    ("handler:execution:started", EventKind::HandlerStarted),
    ("handler:execution:completed", EventKind::HandlerCompleted),
    ("handler:execution:failed", EventKind::HandlerFailed),
];

impl EventKind {
    /// The event a name stands for (colon aliases included).
    pub fn from_name(name: &str) -> Option<EventKind> {
        KINDS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(kind, _)| *kind)
            .or_else(|| ALIASES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k))
    }

    /// The planned name.
    pub fn name(self) -> &'static str {
        KINDS[self as usize].1
    }

    /// Whether it finishes or starts an execution (so a null result means "not found").
    pub fn is_execution_change(self) -> bool {
        self as usize <= EventKind::ExecutionCancelled as usize
    }

    /// Every name handled: the 14 planned ones, then the colon-style aliases.
    pub fn names() -> impl Iterator<Item = &'static str> {
        KINDS
            .iter()
            .map(|(_, n)| *n)
            .chain(ALIASES.iter().map(|(n, _)| *n))
    }
}

/// The planned name an event name stands for (colon aliases included).
pub fn canonical(event_type: &str) -> Option<&'static str> {
    EventKind::from_name(event_type).map(EventKind::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_sits_at_its_own_index() {
        for (i, (kind, name)) in KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(EventKind::from_name(name), Some(*kind));
        }
        assert_eq!(EventKind::names().count(), 17);
        assert_eq!(canonical("nope"), None);
    }
}
