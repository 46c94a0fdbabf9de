//! `WorkflowMetricsRepository` (also exported as `PostgreSQLWorkflowMetricsRepository` and, with
//! no argument, `InMemoryWorkflowMetricsRepository`).

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use super::input::{input, optional};
use super::jsref::JsRef;
use super::repository::{db_member, run, slot_or_memory, DbSlot};
use crate::core::repo::metrics as q;

/// Workflow metrics, on the database it was built with.
#[napi]
pub struct WorkflowMetricsRepository {
    pub(crate) db: DbSlot,
    database: Option<JsRef>,
}

#[napi]
impl WorkflowMetricsRepository {
    /// `'workflow_metrics'`, as planned.
    #[napi(getter)]
    pub fn table_name(&self) -> &'static str {
        "workflow_metrics"
    }

    /// On `db`; without it, on a private in-memory database.
    #[napi(constructor, ts_args_type = "db?: WorkflowDatabase | null")]
    pub fn new(env: &Env, db: Option<Unknown>) -> napi::Result<Self> {
        let (db, database) =
            slot_or_memory(env, db, "Failed to create workflow metrics repository")?;
        Ok(WorkflowMetricsRepository { db, database })
    }

    /// The `WorkflowDatabase` it was built on (null for a private in-memory one).
    #[napi(getter, ts_return_type = "WorkflowDatabase | null")]
    pub fn db<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        db_member(env, &self.database)
    }

    /// The planned helper (synchronous): the population standard deviation of `values`, 0 for
    /// an empty list.
    #[napi(ts_args_type = "values: number[]")]
    pub fn calculate_standard_deviation(&self, env: &Env, values: Unknown) -> napi::Result<f64> {
        q::population_std_dev(&input(env.raw(), values.raw()))
            .map_err(|e| super::js::throw(env.raw(), "Failed to calculate standard deviation", &e))
    }

    /// Records one metric (`metricType` 'performance', `metadata` {} by default); resolves its row.
    #[napi(
        ts_args_type = "metric: MetricInput",
        ts_return_type = "Promise<WorkflowMetricRow>"
    )]
    pub fn record_metric<'env>(
        &self,
        env: &'env Env,
        metric: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let m = input(env.raw(), metric.raw());
        run(env, &self.db, "Failed to record workflow metric", |_| {
            q::record(&m)
        })
    }

    /// Records many metrics in one transaction (all or none); resolves their rows, in order.
    #[napi(
        ts_args_type = "metrics: MetricInput[]",
        ts_return_type = "Promise<WorkflowMetricRow[]>"
    )]
    pub fn record_metrics<'env>(
        &self,
        env: &'env Env,
        metrics: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let m = input(env.raw(), metrics.raw());
        run(env, &self.db, "Failed to record workflow metrics", |_| {
            q::record_many(&m)
        })
    }

    /// Metrics of an execution, newest first (`metricType`, `metricCategory`, `limit` 100, `after`).
    #[napi(
        ts_args_type = "executionId: string, options?: MetricListOptions",
        ts_return_type = "Promise<Page<WorkflowMetricRow>>"
    )]
    pub fn get_metrics_for_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (e, o) = (
            input(env.raw(), execution_id.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(env, &self.db, "Failed to get metrics for execution", |_| {
            q::for_execution(&e, &o)
        })
    }

    /// Per (name, type, category): mean, min, max, count, sample standard deviation, p50/p95/p99.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricAggregateRow[]>"
    )]
    pub fn get_aggregated_metrics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|o| o.raw()));
        run(env, &self.db, "Failed to get aggregated metrics", |d| {
            q::aggregated(d, &f)
        })
    }

    /// Metrics of a type, newest first (`executionId`, `limit` 100, `offset` 0, `after`).
    #[napi(
        ts_args_type = "metricType: string, options?: MetricListOptions",
        ts_return_type = "Promise<Page<WorkflowMetricRow>>"
    )]
    pub fn get_metrics_by_type<'env>(
        &self,
        env: &'env Env,
        metric_type: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, o) = (
            input(env.raw(), metric_type.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(env, &self.db, "Failed to get metrics by type", |_| {
            q::by_type(&t, &o)
        })
    }

    /// Metrics of a name, newest first (`executionId`, `limit` 100, `offset` 0, `after`).
    #[napi(
        ts_args_type = "metricName: string, options?: MetricListOptions",
        ts_return_type = "Promise<Page<WorkflowMetricRow>>"
    )]
    pub fn get_metrics_by_name<'env>(
        &self,
        env: &'env Env,
        metric_name: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (n, o) = (
            input(env.raw(), metric_name.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(env, &self.db, "Failed to get metrics by name", |_| {
            q::by_name(&n, &o)
        })
    }

    /// Totals, distinct counts, mean/min/max/stddev/p50/p95/p99 and the time span.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricStatistics>"
    )]
    pub fn get_metrics_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|o| o.raw()));
        run(env, &self.db, "Failed to get metrics statistics", |d| {
            q::statistics(d, &f)
        })
    }

    /// Deletes an execution's metrics; resolves how many.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<number>"
    )]
    pub fn delete_metrics_for_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let e = input(env.raw(), execution_id.raw());
        run(
            env,
            &self.db,
            "Failed to delete metrics for execution",
            |_| q::delete_for_execution(&e),
        )
    }

    /// Deletes metrics recorded more than `daysOld` (default 30) days ago; resolves how many.
    #[napi(ts_args_type = "daysOld?: number", ts_return_type = "Promise<number>")]
    pub fn cleanup_old_metrics<'env>(
        &self,
        env: &'env Env,
        days_old: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let d = optional(env.raw(), days_old.map(|o| o.raw()));
        run(env, &self.db, "Failed to cleanup old metrics", |_| {
            q::cleanup(&d)
        })
    }
}
