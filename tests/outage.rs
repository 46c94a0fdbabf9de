//! PostgreSQL going away and coming back, through a TCP proxy the test stops and starts (the
//! shared server itself is never touched): calls fail fast while it is away, and work again
//! once it is back.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use workflow_infra::core::config::{ConnectConfig, RawConfig};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::health::health;
use workflow_infra::core::db::Database;
use workflow_infra::core::error::ErrorCode;

/// Forwards 127.0.0.1:`port` to `upstream` until stopped; stopping refuses new connections and
/// cuts the open ones, as a server that went down.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(port: u16, upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let spawned = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let pipe = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                spawned.lock().unwrap().push(pipe.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Proxy {
            port,
            upstream,
            tasks,
        }
    }

    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restart(&self) -> Proxy {
        Proxy::start(self.port, self.upstream).await
    }
}

/// A database on `pg` reached through a proxy the test can stop (1 s to wait for a connection).
async fn behind_proxy(pg: &PgScratch) -> (Proxy, Database) {
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(0, upstream).await;
    let url = pg.url.replace(":5432/", &format!(":{}/", proxy.port));
    let config = ConnectConfig::from_raw(
        RawConfig {
            url: Some(url),
            acquire_timeout_ms: Some(1000.0),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    (proxy, connect::connect(&config).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_postgresql_is_away_and_work_again_once_it_is_back() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let (proxy, db) = behind_proxy(&pg).await;
    let ping = || db.fetch("SELECT 1 AS one", vec![]);
    ping().await.unwrap();

    proxy.stop();
    // The first call finds the server gone (the pooled connection was cut, new ones refused).
    let first = ping().await.unwrap_err();
    assert!(
        matches!(first.code, ErrorCode::DbUnavailable | ErrorCode::Timeout),
        "{first:?}"
    );
    // The next ones are refused without trying for a connection (no timing is asserted: the
    // refusal says where it came from).
    for _ in 0..20 {
        let err = ping().await.unwrap_err();
        assert_eq!(err.code, ErrorCode::DbUnavailable, "{err:?}");
        assert!(err.message.contains("failing fast"), "{}", err.message);
    }
    // The readiness probe says so, with the reason, and the metrics show the open breaker.
    let probe = health(&db).await;
    assert!(!probe.ok && probe.breaker_open, "{probe:?}");
    assert_eq!(probe.error.map(|e| e.code), Some(ErrorCode::DbUnavailable));
    assert!(db.metrics_snapshot().backend.breaker_open);
    assert_eq!(db.metrics_snapshot().reconnects, 0);

    let back = proxy.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match ping().await {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::DbUnavailable, "{e:?}");
                assert!(Instant::now() < deadline, "never came back: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    for _ in 0..10 {
        ping().await.unwrap();
    }
    let probe = health(&db).await;
    assert!(
        probe.ok && !probe.breaker_open && probe.error.is_none(),
        "{probe:?}"
    );
    let figures = db.metrics_snapshot();
    assert!(!figures.backend.breaker_open);
    assert_eq!(figures.reconnects, 1, "one recovery after the outage");
    db.close().await;
    back.stop();
}

/// A distributed publish goes behind the same breaker as every call, and counts in the metrics:
/// while the server is known to be down it is refused at once, as `create` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_fails_fast_while_postgresql_is_away_and_counts() {
    use serde_json::json;
    use workflow_infra::core::db::postgres::broadcast::Broadcast;
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let (proxy, db) = behind_proxy(&pg).await;
    let service = Broadcast::on(&db).unwrap();
    service.publish(&db, "up", &json!({}), None).await.unwrap();

    proxy.stop();
    let first = service
        .publish(&db, "down", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(first.code, ErrorCode::DbUnavailable | ErrorCode::Timeout),
        "{first:?}"
    );
    for _ in 0..10 {
        let err = service
            .publish(&db, "down", &json!({}), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::DbUnavailable, "{err:?}");
        assert!(err.message.contains("failing fast"), "{}", err.message);
    }
    let figures = db.metrics_snapshot().to_json();
    assert_eq!(figures["events"]["published"], 1);
    assert_eq!(figures["events"]["publishFailed"], 11);
    assert!(figures["breakerOpen"].as_bool().unwrap());
    let op = &figures["operations"]["publish_event"];
    assert_eq!(
        (op["calls"].as_u64(), op["errors"].as_u64()),
        (Some(12), Some(11)),
        "{op}"
    );
    db.close().await;
}
