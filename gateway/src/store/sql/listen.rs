//! PostgreSQL's cross-instance signals: one LISTEN connection, outside the request pool, turns other
//! instances' NOTIFYs (changes committed, operations queued) into the store's in-process wake-ups.

use std::sync::Arc;
use tokio::sync::Notify;

/// LISTENs for other instances' notifications (changes committed, operations queued) and forwards them.
pub(super) fn listen(pool: sqlx::PgPool, listen_pool: sqlx::PgPool, changes: Arc<Notify>, outbox: Arc<Notify>) {
    // Weak handles: when the store is dropped (or its pool closed) the task ends and frees its connection.
    let (changes, outbox) = (Arc::downgrade(&changes), Arc::downgrade(&outbox));
    let gone =
        move |pool: &sqlx::PgPool, changes: &std::sync::Weak<Notify>| pool.is_closed() || changes.strong_count() == 0;
    tokio::spawn(async move {
        let wake = |c: &std::sync::Weak<Notify>| {
            if let Some(n) = c.upgrade() {
                n.notify_one();
            }
        };
        'connect: while !gone(&pool, &changes) {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&listen_pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; polling meanwhile");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen_all(["scimgw_changes", "scimgw_outbox"]).await {
                tracing::warn!(error = %e, "LISTEN failed");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
            while !gone(&pool, &changes) {
                tokio::select! {
                    n = listener.recv() => match n {
                        Ok(n) if n.channel() == "scimgw_changes" => wake(&changes),
                        Ok(_) => wake(&outbox),
                        Err(e) => {
                            if gone(&pool, &changes) {
                                break 'connect;
                            }
                            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                            // Wake both loops: something may have been missed.
                            wake(&changes);
                            wake(&outbox);
                            continue 'connect;
                        }
                    },
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                }
            }
        }
        listen_pool.close().await;
    });
}
