//! Versioned migrations, embedded in the binary. Each backend keeps its own
//! SQL files and applies them in order, recording each in
//! `schema_migrations`; applying twice is a no-op.

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
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
}
