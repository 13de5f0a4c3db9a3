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

/// A stable fingerprint of a migration list (FNV-1a over versions and SQL),
/// so a test template built from an older schema is never reused.
pub fn fingerprint(migrations: &[Migration]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in migrations {
        for byte in m.version.to_le_bytes().iter().chain(m.sql.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn fingerprint_changes_with_the_sql() {
        let a = [Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE a ();",
        }];
        let b = [Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE b ();",
        }];
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a));
    }
}
