//! The distributed events' outbox on PostgreSQL: every committed event reaches a listener
//! once, however late its transaction commits; a retry with the caller's event id is sent once;
//! events the retention removed before a listener read them are reported as a gap.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::postgres::broadcast::{self, Broadcast};
use workflow_infra::core::db::postgres::notify::{self, RemoteEvent, GAP_EVENT};
use workflow_infra::core::db::Database;

/// A listening service on `db`, and the events it receives.
async fn listener(db: &Database) -> (Broadcast, tokio::sync::mpsc::UnboundedReceiver<RemoteEvent>) {
    let service = Broadcast::on(db).unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let forward: broadcast::Forward = Arc::new(move |event, place| {
        drop(place);
        let _ = tx.send(event);
    });
    service.listen(db, forward).await.unwrap();
    (service, rx)
}

/// The events that arrive within `wait` of each other.
async fn received(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<RemoteEvent>,
    wait: Duration,
) -> Vec<RemoteEvent> {
    let mut got = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(wait, rx.recv()).await {
        got.push(event);
    }
    got
}

/// Inserts an event as another process's publish would, in `conn`'s open transaction.
async fn insert_event(conn: &mut PgConnection, event_type: &str) {
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO workflow_infra_events (payload, origin, event_type) \
         VALUES ('{{\"late\":true}}', 'elsewhere', '{event_type}')"
    )))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_long_after_its_id_was_taken_is_delivered_once() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    let (listening, mut rx) = listener(&db).await;
    let publisher = Broadcast::on(&db).unwrap();

    // A publisher paused mid-transaction: its row has an id below every one that follows.
    let mut paused = PgConnection::connect(&pg.url).await.unwrap();
    paused.execute("BEGIN").await.unwrap();
    insert_event(&mut paused, "late").await;
    for n in 0..200 {
        publisher
            .publish(&db, "steady", &json!({ "n": n }), None)
            .await
            .unwrap();
    }
    let first = received(&mut rx, Duration::from_millis(800)).await;
    assert_eq!(
        first.len(),
        200,
        "every committed event arrives while one is pending"
    );
    assert!(first.iter().all(|e| e.event_type == "steady"));
    let order: Vec<i64> = first
        .iter()
        .map(|e| e.data["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        (0..200).collect::<Vec<_>>(),
        "one publisher's events in its order"
    );

    // It commits later than any wait the listener could keep (no timeout decides here), and
    // without a NOTIFY of its own: the next wake-up finds it.
    paused.execute("COMMIT").await.unwrap();
    publisher
        .publish(&db, "after", &json!({}), None)
        .await
        .unwrap();
    let second = received(&mut rx, Duration::from_millis(800)).await;
    let mut types: Vec<&str> = second.iter().map(|e| e.event_type.as_str()).collect();
    types.sort();
    assert_eq!(types, ["after", "late"], "the late event arrives, once");

    // A rolled-back publish leaves a hole in the ids and nothing to deliver.
    paused.execute("BEGIN").await.unwrap();
    insert_event(&mut paused, "rolled_back").await;
    paused.execute("ROLLBACK").await.unwrap();
    publisher
        .publish(&db, "last", &json!({}), None)
        .await
        .unwrap();
    let third = received(&mut rx, Duration::from_millis(800)).await;
    assert_eq!(
        third
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["last"]
    );
    listening.stop();
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_callers_event_id_is_sent_once() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    let (listening, mut rx) = listener(&db).await;
    let publisher = Broadcast::on(&db).unwrap();
    for _ in 0..3 {
        publisher
            .publish(&db, "once", &json!({ "n": 1 }), Some("order-42"))
            .await
            .unwrap();
    }
    publisher
        .publish(&db, "other", &json!({}), Some("order-43"))
        .await
        .unwrap();
    let got = received(&mut rx, Duration::from_millis(800)).await;
    let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["once", "other"]);
    let figures = db.metrics_snapshot().to_json();
    assert_eq!(
        figures["events"]["published"], 2,
        "a retry that sent nothing is not counted"
    );
    assert_eq!(figures["events"]["publishFailed"], 0);
    listening.stop();
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_removed_before_a_listener_read_them_are_reported_as_a_gap() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    let (listening, mut rx) = listener(&db).await;
    let publisher = Broadcast::on(&db).unwrap();
    publisher
        .publish(&db, "seen", &json!({}), None)
        .await
        .unwrap();
    assert_eq!(received(&mut rx, Duration::from_millis(500)).await.len(), 1);

    // Events this listener never hears of (no NOTIFY), older than the retention, removed.
    let mut other = PgConnection::connect(&pg.url).await.unwrap();
    for _ in 0..3 {
        insert_event(&mut other, "missed").await;
    }
    other
        .execute(
            "UPDATE workflow_infra_events SET created_at = now() - interval '11 minutes' \
             WHERE event_type = 'missed'",
        )
        .await
        .unwrap();
    let (first, last): (i64, i64) = sqlx::query_as(
        "SELECT min(id), max(id) FROM workflow_infra_events WHERE event_type = 'missed'",
    )
    .fetch_one(&mut other)
    .await
    .unwrap();
    notify::prune(&mut other).await.unwrap();

    publisher
        .publish(&db, "next", &json!({}), None)
        .await
        .unwrap();
    let got = received(&mut rx, Duration::from_millis(800)).await;
    let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, [GAP_EVENT, "next"]);
    assert_eq!(got[0].data, json!({ "fromId": first, "toId": last }));
    assert_eq!(db.metrics_snapshot().to_json()["events"]["gaps"], 1);
    // Reported once.
    publisher
        .publish(&db, "again", &json!({}), None)
        .await
        .unwrap();
    let got = received(&mut rx, Duration::from_millis(800)).await;
    assert_eq!(
        got.iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["again"]
    );
    listening.stop();
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_far_behind_catches_up_read_by_read() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    let (listening, mut rx) = listener(&db).await;
    // More events than one read takes (10 pages of 1,000), none of them waking the listener.
    let mut other = PgConnection::connect(&pg.url).await.unwrap();
    other
        .execute(
            "INSERT INTO workflow_infra_events (payload, origin, event_type) \
             SELECT json_build_object('n', n)::text, 'elsewhere', 'bulk' FROM generate_series(1, 12345) AS n",
        )
        .await
        .unwrap();
    let publisher = Broadcast::on(&db).unwrap();
    publisher
        .publish(&db, "wake", &json!({}), None)
        .await
        .unwrap();
    let got = received(&mut rx, Duration::from_millis(1500)).await;
    assert_eq!(got.len(), 12346, "every event, each once");
    let bulk: Vec<i64> = got
        .iter()
        .filter(|e| e.event_type == "bulk")
        .map(|e| e.data["n"].as_i64().unwrap())
        .collect();
    assert_eq!(bulk, (1..=12345).collect::<Vec<_>>());
    listening.stop();
    db.close().await;
}
