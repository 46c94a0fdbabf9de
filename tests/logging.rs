//! What the addon's own log says at its default levels: never SQL text.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use workflow_infra::core::db::connect;
use workflow_infra::core::logging;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_is_not_logged_with_its_sql_at_the_default_levels() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    // The sink takes everything at info and above (WORKFLOW_INFRA_LOG unset): more than the
    // default `warn` of stderr.
    logging::init();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let into = seen.clone();
    logging::set_sink(Some(Arc::new(move |level, message, fields| {
        into.lock().unwrap().push(format!(
            "{level} {message} {}",
            serde_json::Value::Object(fields)
        ));
    })));
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    // Over sqlx's one-second threshold for a slow statement.
    db.fetch("SELECT pg_sleep(1.2) IS NULL AS slept", vec![])
        .await
        .unwrap();
    db.close().await;
    logging::set_sink(None);
    let lines = seen.lock().unwrap();
    assert!(
        lines.iter().all(|l| !l.contains("pg_sleep")),
        "SQL at info or above: {lines:?}"
    );
}
