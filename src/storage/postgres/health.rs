//! Readiness and connection figures for PostgreSQL.

use async_trait::async_trait;

use super::PgStore;
use crate::storage::{ConnectionStats, Health, ReadStats, StoreResult, READY_PROBE_LIMIT};

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.readers.ping(READY_PROBE_LIMIT).await
    }

    fn reads(&self) -> ReadStats {
        self.replicas.stats()
    }

    fn connections(&self) -> Vec<ConnectionStats> {
        let pool = self.pool.status();
        let in_use = pool.size.saturating_sub(pool.available);
        let mut all = vec![
            self.readers.stats(),
            self.writers.stats(),
            ConnectionStats {
                pool: "pg_transactions",
                max: pool.max_size,
                in_use,
                idle: pool.available,
                waiting: pool.waiting,
            },
        ];
        all.extend(self.replicas.members().iter().map(|r| r.conn.stats()));
        all
    }
}
