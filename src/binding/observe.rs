//! `WorkflowDatabase`'s own figures: `getMetrics()`, `toPrometheus()` and `health()`.

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::Env;
use napi_derive::napi;

use super::database::WorkflowDatabase;
use super::node::convert::{throw, IntoJs};
use super::node::raw::unknown;
use super::node::settle;
use crate::core::db::health::{self, Health};
use crate::core::value::Value;

#[napi]
impl WorkflowDatabase {
    /// The package's own counters for this database: calls, errors by code, latency histograms
    /// by operation, pool and write-queue depths, commit-group sizes, reconnections, events.
    /// Throws `ERR_CLOSED` after `close()`.
    #[napi(ts_return_type = "Metrics")]
    pub fn get_metrics<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let db = self
            .get()
            .map_err(|e| throw(env.raw(), "Failed to get metrics", &e))?;
        let raw = Value::Json(db.metrics_snapshot().to_json()).into_js(env.raw())?;
        Ok(unknown(env, raw))
    }

    /// The same counters as Prometheus text exposition (names `workflow_infra_…`, labelled
    /// with the backend and `options.labels`), for users without prom-client (with it,
    /// `registerMetrics` is the way: several databases in one registry). Throws `ERR_CLOSED`
    /// after `close()`. (`lib/prometheus.js` adds the labels.)
    #[napi(ts_args_type = "options?: { labels?: Record<string, string> }")]
    pub fn to_prometheus(&self, env: &Env) -> napi::Result<String> {
        let db = self
            .get()
            .map_err(|e| throw(env.raw(), "Failed to get metrics", &e))?;
        Ok(db.metrics_snapshot().to_prometheus())
    }

    /// A readiness probe: never rejects. `ok` is true when the database answered a query
    /// (within 5 s) and can take writes; `status` is `'degraded'` while that database is the
    /// fallback, `'down'` when `ok` is false.
    #[napi(ts_return_type = "Promise<Health>")]
    pub fn health<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        const PREFIX: &str = "Failed to check health";
        match self.get() {
            Ok(db) => settle::spawn(env, PREFIX, async move {
                Ok(Value::Json(health::health(&db).await.to_json()))
            }),
            Err(closed) => {
                let report = Health {
                    ok: false,
                    status: "down",
                    backend: self.kind().as_str(),
                    used_fallback: self.used_fallback(),
                    latency_ms: 0.0,
                    breaker_open: false,
                    disk_full: false,
                    error: Some(closed),
                };
                settle::settled::<Value, _>(env, PREFIX, Ok(Value::Json(report.to_json())))
            }
        }
    }
}
