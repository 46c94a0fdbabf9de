//! The workflow services and events: `WorkflowRepository` and `WorkflowPersistenceService`
//! (executions and their metrics together, each multi-step write one transaction), the event
//! handlers' writes, and the demo's sample data.

pub mod bulk;
pub mod events;
pub mod reads;
pub mod seed;
pub mod service;
pub mod writes;

pub use bulk::{bulk_create, bulk_update};
pub use reads::{execution_statistics, execution_with_metrics, export, find_executions};
pub use writes::{
    cleanup, delete_execution, metrics_insert, record_execution_metric, save_execution,
    update_execution, MetricRow,
};
