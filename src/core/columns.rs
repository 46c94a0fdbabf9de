//! What a column holds, by name, for backends that store JSON, timestamps and booleans as plain
//! text or integers (SQLite). One list for every table and view of the schema.

/// How a stored value is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Plain,
    Json,
    Timestamp,
    Bool,
}

pub fn column_kind(name: &str) -> ColumnKind {
    match name {
        "metadata" | "result_data" | "error_data" | "capabilities" | "configuration"
        | "dependencies" => ColumnKind::Json,
        "is_active" | "is_default" | "success" => ColumnKind::Bool,
        "start_time" | "end_time" | "last_used" | "installed_on" | "earliest_metric"
        | "latest_metric" => ColumnKind::Timestamp,
        n if n.ends_with("_at") => ColumnKind::Timestamp,
        _ => ColumnKind::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(column_kind("metadata"), ColumnKind::Json);
        assert_eq!(column_kind("created_at"), ColumnKind::Timestamp);
        assert_eq!(column_kind("start_time"), ColumnKind::Timestamp);
        assert_eq!(column_kind("is_active"), ColumnKind::Bool);
        assert_eq!(column_kind("execution_time"), ColumnKind::Plain);
    }
}
