//! SQL of the catalog: runtime-checked, portable queries over `sqlx::Any` with `$n` placeholders.
//! Every function takes a connection so callers choose between a pooled read and a transaction.

pub mod eligibility;
pub mod markups;
pub mod plans;
pub mod prices;
pub mod vendors;
pub mod version;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool};

use marketplace_platform::db::Database;

/// A value bound to a dynamically built query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
}

/// Builds a dynamic statement and its arguments in step, numbering placeholders.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Starts a statement.
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends raw SQL.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    /// Appends `(p1, p2, …)` for a list of text values.
    pub(crate) fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.text.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Arg::Text(v.clone()));
        }
        self.text.push(')');
        self
    }

    /// The sqlx query. Safe: values are always bound, only fixed fragments are concatenated.
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.clone()));
        for arg in &self.args {
            q = match arg {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// The catalog store: the pool of the service database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// A store over a migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.db
    }
}
