//! Single-row INSERTs of one shape ([`Merge`]) run as one multi-row INSERT, and its rows go back
//! to the statements that sent them. PostgreSQL's group commit merges concurrent writes this way;
//! SQLite's batches (`recordMetrics`) merge their rows too, so that a thousand rows are a handful
//! of statements rather than a thousand.

use std::collections::HashMap;
use std::ops::Range;

use super::statement::{Merge, Statement, StmtResult};
use crate::core::value::{Row, Value};

/// The shape a write of these statements can merge under: a single unguarded statement.
pub fn mergeable(statements: &[Statement]) -> Option<&'static Merge> {
    match statements {
        [s] if s.only_if.is_none() => s.merge,
        _ => None,
    }
}

/// The shape every one of `writes` merges under, when they all share one.
pub fn one_shape<'a>(writes: impl IntoIterator<Item = &'a [Statement]>) -> Option<&'static Merge> {
    let mut writes = writes.into_iter();
    let shape = mergeable(writes.next()?)?;
    writes
        .all(|w| mergeable(w).is_some_and(|m| std::ptr::eq(m, shape)))
        .then_some(shape)
}

/// The rows `s` inserts.
fn rows_of(s: &Statement) -> usize {
    s.params.len() / s.merge.map_or(1, |m| m.width).max(1)
}

/// `members` split into runs whose merged INSERT has at most `max_rows` rows (a member with more
/// rows than that runs alone).
pub fn chunks(members: &[&Statement], max_rows: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (n, s) in members.iter().enumerate() {
        let these = rows_of(s);
        if rows + these > max_rows && n > start {
            out.push(start..n);
            start = n;
            rows = 0;
        }
        rows += these;
    }
    if start < members.len() {
        out.push(start..members.len());
    }
    out
}

/// One INSERT with every member's rows, parameters renumbered in order.
pub fn merged(merge: &Merge, members: &[&Statement]) -> Statement {
    let mut tuples = Vec::new();
    let mut params = Vec::new();
    for s in members {
        for row in s.params.chunks(merge.width) {
            tuples.push(renumber(merge.tuple, params.len()));
            params.extend(row.iter().cloned());
        }
    }
    Statement::new(
        format!("{} VALUES {}{}", merge.head, tuples.join(", "), merge.tail),
        params,
    )
}

/// `template` with every `$n` moved up by `offset`.
pub fn renumber(template: &str, offset: usize) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            let mut n = 0usize;
            while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
                chars.next();
            }
            out.push('$');
            out.push_str(&(n + offset).to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The merged statement's result, per member in order: its rows (matched by the key parameter
/// when the INSERT returns rows; a database may return them in any order) and how many rows it
/// added.
pub fn share(merge: &Merge, members: &[&Statement], out: StmtResult) -> Vec<StmtResult> {
    // PostgreSQL returns a uuid as text, SQLite stores it as text: compare keys as text.
    let key_of = |v: &Value| match v {
        Value::Uuid(u) => u.hyphenated().to_string(),
        Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    };
    let mut by_key: HashMap<String, Row> = match merge.key {
        Some(column) => out
            .rows
            .into_iter()
            .filter_map(|r| Some((key_of(r.get(column)?), r)))
            .collect(),
        None => HashMap::new(),
    };
    members
        .iter()
        .map(|s| StmtResult {
            rows: match merge.key {
                Some(_) => s
                    .params
                    .chunks(merge.width)
                    .filter_map(|row| by_key.remove(&key_of(&row[merge.key_param])))
                    .collect(),
                None => Vec::new(),
            },
            affected: rows_of(s) as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    static M: Merge = Merge {
        head: "INSERT INTO t (a, b)",
        tuple: "($1, CAST($2 AS DOUBLE PRECISION))",
        tail: " RETURNING a, b",
        width: 2,
        key: Some("a"),
        key_param: 0,
    };

    #[test]
    fn returned_rows_go_back_to_the_write_that_sent_them() {
        let id = |n: u8| uuid::Uuid::from_bytes([n; 16]);
        let one = Statement::new("x", vec![Value::Uuid(id(1)), Value::Int(10)]).merging(&M);
        let two = Statement::new(
            "x",
            vec![
                Value::Uuid(id(2)),
                Value::Int(20),
                Value::Uuid(id(3)),
                Value::Int(30),
            ],
        )
        .merging(&M);
        let row = |n: u8, b: i64| {
            Row::new(
                vec!["a".into(), "b".into()],
                vec![Value::Text(id(n).hyphenated().to_string()), Value::Int(b)],
            )
        };
        // Returned in another order than sent.
        let out = StmtResult {
            rows: vec![row(3, 30), row(1, 10), row(2, 20)],
            affected: 3,
        };
        let shared = share(&M, &[&one, &two], out);
        assert_eq!(shared[0].rows, vec![row(1, 10)]);
        assert_eq!(shared[1].rows, vec![row(2, 20), row(3, 30)]);
        assert_eq!((shared[0].affected, shared[1].affected), (1, 2));
    }

    #[test]
    fn members_merge_into_one_insert_with_renumbered_parameters() {
        assert_eq!(renumber("($1, $2, $10)", 20), "($21, $22, $30)");
        let one = Statement::new("x", vec![Value::Int(1), Value::Int(2)]);
        let two = Statement::new(
            "x",
            vec![Value::Int(3), Value::Int(4), Value::Int(5), Value::Int(6)],
        );
        let s = merged(&M, &[&one, &two]);
        assert_eq!(
            s.sql,
            "INSERT INTO t (a, b) VALUES ($1, CAST($2 AS DOUBLE PRECISION)), ($3, CAST($4 AS DOUBLE PRECISION)), \
             ($5, CAST($6 AS DOUBLE PRECISION)) RETURNING a, b"
        );
        assert_eq!(s.params.len(), 6);
    }

    #[test]
    fn writes_share_a_shape_only_when_each_is_one_unguarded_statement_of_it() {
        static OTHER: Merge = Merge {
            head: "INSERT INTO u (a)",
            tuple: "($1)",
            tail: "",
            width: 1,
            key: None,
            key_param: 0,
        };
        let s = || Statement::new("x", vec![Value::Int(0); 2]).merging(&M);
        let (a, b) = ([s()], [s()]);
        assert!(one_shape([&a[..], &b[..]]).is_some_and(|m| std::ptr::eq(m, &M)));
        let other = [Statement::new("y", vec![Value::Int(0)]).merging(&OTHER)];
        assert!(one_shape([&a[..], &other[..]]).is_none());
        let guarded = [s().only_if(0)];
        assert!(one_shape([&a[..], &guarded[..]]).is_none());
        let two = [s(), s()];
        assert!(one_shape([&two[..]]).is_none());
        assert!(one_shape(std::iter::empty::<&[Statement]>()).is_none());
    }

    #[test]
    fn chunks_keep_each_merged_insert_within_the_row_limit() {
        let s = |rows: usize| Statement::new("x", vec![Value::Int(0); rows * 2]).merging(&M);
        let (a, b, c, d) = (s(1), s(2), s(3), s(5));
        assert_eq!(chunks(&[&a, &b, &c], 3), vec![0..2, 2..3]);
        // A member over the limit runs alone.
        assert_eq!(chunks(&[&a, &d, &a], 3), vec![0..1, 1..2, 2..3]);
        assert_eq!(chunks(&[], 3), Vec::<Range<usize>>::new());
    }
}
