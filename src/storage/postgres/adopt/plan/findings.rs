//! What comparing the schema with orderly's needs finds, one finding per
//! need or per object of the schema, as data: the steps (`steps.rs`) and
//! the printed plan (`report.rs`) are both derived from these, so that
//! neither is phrased before the planner has decided.

use super::super::needs::{CheckNeed, ColumnNeed, ForeignKeyNeed, IndexNeed};

#[derive(Debug, Clone)]
pub enum Finding {
    /// Something orderly needs, there as it needs it.
    Fits(Fit),
    /// A column that orderly's inserts leave out has no default: the one
    /// orderly relies on is added.
    MissingDefault {
        table: &'static str,
        column: &'static str,
        value: &'static str,
    },
    /// A nullable column with no check keeping NULL out: one is added
    /// (`needs::not_null_check` names it), then validated.
    MissingNotNull {
        table: &'static str,
        column: &'static str,
    },
    /// An index orderly's queries rely on is missing, or was left invalid
    /// by a build that did not finish (then it is dropped first): it is
    /// built concurrently.
    IndexToBuild {
        need: &'static IndexNeed,
        left_invalid: bool,
    },
    /// A foreign key orderly relies on is missing: added NOT VALID under
    /// its first name, then validated.
    ForeignKeyToAdd(&'static ForeignKeyNeed),
    /// A check orderly relies on is missing: added NOT VALID, then
    /// validated.
    CheckToAdd(&'static CheckNeed),
    /// A constraint orderly relies on is there but NOT VALID: it is
    /// validated. `constraint` is the catalog's name, whatever it is.
    Unvalidated {
        table: &'static str,
        constraint: String,
    },
    /// Something orderly does not need, left as it is.
    Kept(Kept),
    /// Something that stops the adoption.
    Blocker(Blocker),
}

/// What fits orderly as it is.
#[derive(Debug, Clone)]
pub enum Fit {
    /// A column of a type orderly accepts.
    Column {
        table: &'static str,
        column: &'static str,
        /// Its type as `\d` shows it.
        shown: String,
        /// An `integer` id, read as `bigint`.
        read_as_bigint: bool,
        default: Supplied,
        not_null: NotNull,
    },
    PrimaryKey {
        table: &'static str,
        name: String,
        columns: &'static [&'static str],
    },
    Index(&'static IndexNeed),
    ForeignKey {
        name: String,
        definition: String,
    },
    Check {
        name: String,
        definition: String,
    },
}

/// What a fitting column holds when an insert leaves it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supplied {
    Identity,
    Default(String),
    /// No default: orderly always writes it, or `MissingDefault` adds one.
    Nothing,
}

/// What keeps NULL out of a fitting column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotNull {
    Declared,
    /// A validated check of this name.
    Check(String),
    /// Nothing yet: `MissingNotNull` or `Unvalidated` sees to it.
    NotYet,
}

/// What orderly leaves as it is, and what that means for it.
#[derive(Debug, Clone)]
pub enum Kept {
    /// A column orderly does not know; its inserts give it its default.
    Column {
        table: String,
        column: String,
        shown: String,
    },
    /// The legacy case-sensitive `UNIQUE (email)`.
    CaseSensitiveEmailKey,
    /// A check orderly does not know; its writes must pass it too.
    Check {
        table: String,
        name: String,
        definition: String,
    },
    Index {
        table: String,
        name: String,
    },
    Trigger {
        table: String,
        name: String,
    },
    /// A foreign key from a table orderly does not know into one of its.
    ReferenceIn {
        table: String,
        name: String,
        definition: String,
    },
    /// A table orderly does not know.
    Table(String),
}

/// What stops the adoption, with what its report needs to say why.
#[derive(Debug, Clone)]
pub enum Blocker {
    MissingTable(&'static str),
    MissingColumn {
        table: &'static str,
        column: &'static str,
    },
    WrongType {
        need: &'static ColumnNeed,
        /// `pg_type.typname`, and the type as `\d` shows it.
        type_name: String,
        shown: String,
    },
    /// An id column without an identity or a sequence default.
    NotGenerated {
        table: &'static str,
        column: &'static str,
    },
    /// A default other than the one orderly's contract relies on.
    WrongDefault {
        table: &'static str,
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    /// A column orderly does not know, which its inserts cannot fill.
    NotNullWithoutDefault {
        table: String,
        column: String,
    },
    PrimaryKey {
        table: &'static str,
        columns: &'static [&'static str],
    },
    /// A foreign key whose violations orderly answers by name, under
    /// another name.
    ForeignKeyName {
        need: &'static ForeignKeyNeed,
        name: String,
    },
    /// A foreign key that deletes or changes rows orderly expects the
    /// database to protect.
    ForeignKeyCascades {
        need: &'static ForeignKeyNeed,
        name: String,
        definition: String,
    },
    /// A unique index whose violations orderly cannot answer.
    UnknownUnique {
        name: String,
        definition: String,
    },
}
