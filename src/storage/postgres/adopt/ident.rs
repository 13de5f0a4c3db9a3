//! Names as they go into the SQL that adoption builds. Constraint and index
//! names come from the adopted database's catalog, where anything goes
//! (`Orders-Check`, `x"; DROP TABLE users; --`), so every name goes through
//! [`ident`] before it is spliced into a statement.

/// `name` as an SQL identifier, quoted the way PostgreSQL's `quote_ident`
/// quotes it: only when needed. Quoting only when needed keeps the printed
/// plan and roll-back reading like hand-written SQL (`DROP INDEX
/// CONCURRENTLY users_email_lower_key`) for the ordinary names, while any
/// other name is quoted, its own `"` doubled, so that it can never end the
/// identifier early.
pub fn ident(name: &str) -> String {
    if is_plain(name) {
        return name.to_owned();
    }
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether `name` reads as itself unquoted: lower case letters, digits and
/// underscores, not starting with a digit, and not a keyword that could be
/// taken for syntax. Anything else (capitals, which an unquoted name would
/// fold to lower case; `$`; non-ASCII letters, which depend on the
/// encoding) is quoted.
fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    starts_well
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.split_ascii_whitespace().any(|k| k == name)
}

/// PostgreSQL's keywords that are not "unreserved" (reserved, column-name
/// and type-or-function-name ones): `pg_get_keywords()` of PostgreSQL 15,
/// plus those 16 and 17 added. These are the ones `quote_ident` quotes.
/// A keyword a later release adds and this list lacks would make a
/// statement fail to parse, never change what it does; quoting an
/// unreserved keyword is harmless, so when in doubt a word belongs here.
const KEYWORDS: &str = "
    all analyse analyze and any array as asc asymmetric authorization between bigint binary
    bit boolean both case cast char character check coalesce collate collation column
    concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user dec decimal default
    deferrable desc distinct do else end except exists extract false fetch float for
    foreign freeze from full grant greatest group grouping having ilike in initially inner
    inout int integer intersect interval into is isnull join json json_array json_arrayagg
    json_exists json_object json_objectagg json_query json_scalar json_serialize json_table
    json_value lateral leading least left like limit localtime localtimestamp merge_action
    national natural nchar none normalize not notnull null nullif numeric offset on only or
    order out outer overlaps overlay placing position precision primary real references
    returning right row select session_user setof similar smallint some substring symmetric
    system_user table tablesample then time timestamp to trailing treat trim true union
    unique user using values varchar variadic verbose when where window with xmlattributes
    xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
    xmlserialize xmltable";

#[cfg(test)]
mod tests {
    use super::ident;

    #[test]
    fn ordinary_names_stay_as_they_are() {
        for name in [
            "users_email_lower_key",
            "orders_user_id_fkey",
            "_t1",
            "name",
        ] {
            assert_eq!(ident(name), name, "{name}");
        }
    }

    #[test]
    fn names_that_unquoted_would_read_otherwise_are_quoted() {
        for (name, quoted) in [
            ("Orders-Check", "\"Orders-Check\""),
            ("Users", "\"Users\""),
            ("1st", "\"1st\""),
            ("with space", "\"with space\""),
            ("cost$", "\"cost$\""),
            ("café", "\"café\""),
            ("", "\"\""),
            ("check", "\"check\""),
            ("user", "\"user\""),
            ("order", "\"order\""),
        ] {
            assert_eq!(ident(name), quoted, "{name:?}");
        }
    }

    #[test]
    fn a_quote_in_a_name_is_doubled_so_the_name_cannot_end_early() {
        assert_eq!(
            ident("x\"; DROP TABLE users; --"),
            "\"x\"\"; DROP TABLE users; --\""
        );
        assert_eq!(ident("\""), "\"\"\"\"");
    }
}
