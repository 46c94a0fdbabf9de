//! `WorkflowMetricsRepository` (also exported as `PostgreSQLWorkflowMetricsRepository` and, with
//! no argument, `InMemoryWorkflowMetricsRepository`).

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use super::call::promise_methods;
use super::database::repository_class;
use super::node::convert::throw;
use super::node::input::argument;
use crate::core::repo::{metrics, statistics};

repository_class!(
    " Workflow metrics, on the database it was built with."
    WorkflowMetricsRepository, "workflow metrics repository",
    { table_name: "workflow_metrics" }
);

#[napi]
impl WorkflowMetricsRepository {
    /// The planned helper (synchronous): the population standard deviation of `values`, 0
    /// for an empty list.
    #[napi(ts_args_type = "values: number[]")]
    pub fn calculate_standard_deviation(&self, env: &Env, values: Unknown) -> napi::Result<f64> {
        metrics::population_std_dev(&argument(env, Some(values)))
            .map_err(|e| throw(env.raw(), "Failed to calculate standard deviation", &e))
    }
}

promise_methods! {
    WorkflowMetricsRepository as METRICS_METHODS;
    " Records one metric (`metricType` 'performance', `metadata` {} by default); resolves its row."
    fn record_metric(metric): "metric: MetricInput" -> "Promise<WorkflowMetricRow>"
        = "Failed to record workflow metric", |_, metric| metrics::record(&metric);
    " Records many metrics in one transaction (all or none); resolves their rows, in order."
    fn record_metrics(metrics): "metrics: MetricInput[], options?: CallOptions" -> "Promise<WorkflowMetricRow[]>"
        = "Failed to record workflow metrics", |_, metrics| metrics::record_many(&metrics);
    " Metrics of an execution, newest first (`metricType`, `metricCategory`, `limit` 100, `after`)."
    fn get_metrics_for_execution(execution_id, options):
        "executionId: string, options?: MetricListOptions" -> "PagedCall<WorkflowMetricRow>"
        = "Failed to get metrics for execution",
        |_, execution_id, options| metrics::for_execution(&execution_id, &options);
    " Per (name, type, category): mean, min, max, count, sample standard deviation, p50/p95/p99."
    fn get_aggregated_metrics(filters): "filters?: MetricFilters, options?: CallOptions" -> "Promise<MetricAggregateRow[]>"
        = "Failed to get aggregated metrics", |_, filters| statistics::aggregated(&filters);
    " Metrics of a type, newest first (`executionId`, `limit` 100, `offset` 0, `after`)."
    fn get_metrics_by_type(metric_type, options):
        "metricType: string, options?: MetricListOptions" -> "PagedCall<WorkflowMetricRow>"
        = "Failed to get metrics by type",
        |_, metric_type, options| metrics::by_type(&metric_type, &options);
    " Metrics of a name, newest first (`executionId`, `limit` 100, `offset` 0, `after`)."
    fn get_metrics_by_name(metric_name, options):
        "metricName: string, options?: MetricListOptions" -> "PagedCall<WorkflowMetricRow>"
        = "Failed to get metrics by name",
        |_, metric_name, options| metrics::by_name(&metric_name, &options);
    " Totals, distinct counts, mean/min/max/stddev/p50/p95/p99 and the time span."
    fn get_metrics_statistics(filters): "filters?: MetricFilters, options?: CallOptions" -> "Promise<MetricStatistics>"
        = "Failed to get metrics statistics", |_, filters| statistics::metric_statistics(&filters);
    " Deletes an execution's metrics; resolves how many."
    fn delete_metrics_for_execution(execution_id): "executionId: string" -> "Promise<number>"
        = "Failed to delete metrics for execution",
        |_, execution_id| metrics::delete_for_execution(&execution_id);
    " Deletes metrics recorded more than `daysOld` (default 30) days ago; resolves how many."
    fn cleanup_old_metrics(days_old): "daysOld?: number, options?: CallOptions" -> "Promise<number>"
        = "Failed to cleanup old metrics", |_, days_old| metrics::cleanup(&days_old);
}
