//! How a statement goes out on a connection: by a statement prepared
//! once per connection and run by name, or unnamed with its parameter
//! types given (`param`), as a transaction pooler needs; and what happens
//! when a pooler loses a prepared statement.

use std::future::Future;
use std::sync::atomic::Ordering;

use futures_util::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Row, Statement};

use super::PgConn;
use crate::storage::postgres::param::Param;

impl PgConn {
    /// The statement for `sql`, prepared on first use on this connection
    /// with the types of `params` (each statement's are always the same):
    /// the server takes the parameters as orderly sends them, `bigint` ids
    /// included, even where a column is narrower (an adopted schema's
    /// `integer` ids), as it does for statements sent unnamed.
    async fn prepared(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.lock().expect("not poisoned").get(sql) {
            return Ok(statement.clone());
        }
        let types: Vec<_> = params.iter().map(|p| p.pg_type()).collect();
        let statement = self.client.prepare_typed(sql, &types).await?;
        self.statements
            .lock()
            .expect("not poisoned")
            .insert(sql, statement.clone());
        Ok(statement)
    }

    /// The statement to run `sql` by: prepared once on this connection
    /// (`prepared`), or `None` to send it unnamed.
    pub(super) async fn statement(
        &self,
        sql: &'static str,
        params: &[&dyn Param],
        prepared: bool,
    ) -> Result<Option<Statement>, tokio_postgres::Error> {
        match prepared {
            true => self.prepared(sql, params).await.map(Some),
            false => Ok(None),
        }
    }

    /// Runs `sql` with `params`, by `statement` or unnamed with its types
    /// given. Sends its request when first polled, so a statement
    /// pipelined behind another keeps its place.
    pub(super) async fn rows(
        &self,
        sql: &'static str,
        statement: Option<&Statement>,
        params: &[&dyn Param],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let Some(statement) = statement else {
            let typed = params.iter().map(|p| (p.as_sql(), p.pg_type()));
            return self
                .client
                .query_typed_raw(sql, typed)
                .await?
                .try_collect()
                .await;
        };
        let values = params.iter().map(|p| p.as_sql());
        self.client
            .query_raw(statement, values)
            .await?
            .try_collect()
            .await
    }

    pub(super) fn prepares(&self) -> bool {
        self.prepares.load(Ordering::Relaxed)
    }

    /// Runs `work`, sent the way `prepares` said when it began. If a
    /// prepared statement it used was gone from the server, a pooler in
    /// front replaced the server connection under it, and will again: every
    /// connection to this target runs its statements unnamed from now on. The statement
    /// itself failed before running (`outcome`: not run, its statement
    /// gone), and the retry policy sends it again at once (`retry`);
    /// inside a transaction, which the error aborted, the unit of work is
    /// made again from its claim.
    pub(super) async fn unnamed_if_gone<T, F>(
        &self,
        work: impl FnOnce() -> F,
    ) -> Result<T, tokio_postgres::Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let result = work().await;
        if let Err(e) = &result {
            if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) {
                if self.prepares.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "a prepared statement vanished from the server: orderly runs its statements unnamed from now on; behind a transaction pooler, run with --pg-prepared-statements=false"
                    );
                }
                self.statements.lock().expect("not poisoned").clear();
            }
        }
        result
    }
}
