//! Versioned migrations, embedded in the binary, and the one way both
//! backends apply them: inside a single transaction that holds the
//! backend's migration lock (so instances starting at once take turns),
//! each pending migration in order, recorded in `orderly_migrations`.
//! Applying twice is a no-op; a failure leaves nothing half-applied.

use std::collections::BTreeSet;
use std::future::Future;

use anyhow::Context;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations of the backend whose SQL files are in `$dir` (relative
/// to the file that names it), under the versions and names both backends
/// share.
macro_rules! embedded {
    ($dir:literal) => {
        &[
            $crate::storage::migrations::Migration {
                version: 1,
                name: "users_and_orders",
                sql: include_str!(concat!($dir, "/0001_users_and_orders.sql")),
            },
            $crate::storage::migrations::Migration {
                version: 2,
                name: "idempotency_keys",
                sql: include_str!(concat!($dir, "/0002_idempotency_keys.sql")),
            },
            $crate::storage::migrations::Migration {
                version: 3,
                name: "named_constraints_immediate_order_user",
                sql: include_str!(concat!(
                    $dir,
                    "/0003_named_constraints_immediate_order_user.sql"
                )),
            },
            $crate::storage::migrations::Migration {
                version: 4,
                name: "api_keys",
                sql: include_str!(concat!($dir, "/0004_api_keys.sql")),
            },
            $crate::storage::migrations::Migration {
                version: 5,
                name: "orderly_bookkeeping_names",
                sql: include_str!(concat!($dir, "/0005_orderly_bookkeeping_names.sql")),
            },
            $crate::storage::migrations::Migration {
                version: 6,
                name: "events_and_webhooks",
                sql: include_str!(concat!($dir, "/0006_events_and_webhooks.sql")),
            },
        ]
    };
}
pub(crate) use embedded;

/// A backend's migration transaction, already begun and holding the
/// migration lock, with `orderly_migrations` present.
pub(crate) trait MigrationTx {
    /// The versions `orderly_migrations` records.
    fn applied(&mut self) -> impl Future<Output = anyhow::Result<BTreeSet<i64>>> + Send;
    /// Runs `migration`'s SQL and records it.
    fn apply(&mut self, migration: &Migration) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Applies the migrations not yet recorded, in order, inside `tx`; how
/// many it applied. The caller commits, or rolls back on an error.
pub(crate) async fn apply_pending(
    tx: &mut impl MigrationTx,
    migrations: &[Migration],
) -> anyhow::Result<usize> {
    let applied = tx.applied().await?;
    let mut applied_now = 0;
    for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        tx.apply(m)
            .await
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied_now += 1;
    }
    Ok(applied_now)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_strictly_increasing_in_both_backends() {
        for list in [
            crate::storage::postgres::MIGRATIONS,
            crate::storage::sqlite::MIGRATIONS,
        ] {
            assert!(list.windows(2).all(|w| w[0].version < w[1].version));
            assert!(!list.is_empty());
        }
    }

    #[test]
    fn each_backend_embeds_its_own_sql() {
        let (pg, sqlite) = (
            crate::storage::postgres::MIGRATIONS,
            crate::storage::sqlite::MIGRATIONS,
        );
        assert_eq!(pg.len(), sqlite.len());
        for (p, s) in pg.iter().zip(sqlite) {
            assert_eq!((p.version, p.name), (s.version, s.name));
            assert_ne!(
                p.sql, s.sql,
                "migration {} is the same SQL on both",
                p.version
            );
        }
    }
}
