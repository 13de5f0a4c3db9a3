//! A transaction on a pooled connection that the caller owns across awaits
//! (tokio-postgres's own `Transaction` borrows its client, so it cannot be
//! handed up to the application layer and back).

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::errors::db_error;
use crate::storage::StoreResult;

pub struct PgTx {
    /// `None` once committed.
    conn: Option<Object>,
}

impl PgTx {
    pub(super) async fn begin(conn: Object) -> StoreResult<Self> {
        conn.batch_execute("BEGIN").await.map_err(db_error)?;
        Ok(Self { conn: Some(conn) })
    }

    fn client(&self) -> &Object {
        self.conn
            .as_ref()
            .expect("a transaction is open until committed")
    }

    /// Runs one statement (prepared once per connection) that returns a row.
    pub(super) async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Row> {
        let statement = self.client().prepare_cached(sql).await.map_err(db_error)?;
        self.client()
            .query_one(&statement, params)
            .await
            .map_err(db_error)
    }

    /// Runs one statement that returns at most one row.
    pub(super) async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let statement = self.client().prepare_cached(sql).await.map_err(db_error)?;
        self.client()
            .query_opt(&statement, params)
            .await
            .map_err(db_error)
    }

    /// Runs one statement and returns the number of rows it changed.
    pub(super) async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let statement = self.client().prepare_cached(sql).await.map_err(db_error)?;
        self.client()
            .execute(&statement, params)
            .await
            .map_err(db_error)
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        self.client()
            .batch_execute("COMMIT")
            .await
            .map_err(db_error)?;
        self.conn = None;
        Ok(())
    }
}

impl Drop for PgTx {
    /// Not committed (an error, or the request was cancelled mid-way): roll
    /// back before the connection goes back to the pool, so that no other
    /// request runs inside this transaction. If the connection is broken
    /// the rollback fails and the pool discards the connection.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            tokio::spawn(async move {
                let _ = conn.batch_execute("ROLLBACK").await;
            });
        }
    }
}
