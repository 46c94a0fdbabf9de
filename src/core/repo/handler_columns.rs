//! What the handler registry's reads share: the columns a row has, and a list's options.

use crate::core::error::Result;
use crate::core::input::{Fields, Input};

pub const COLUMNS: &str = "id, handler_type, handler_name, handler_class, handler_path, version, description, \
    capabilities, configuration, dependencies, metadata, is_active, is_default, priority, registered_at, updated_at, \
    last_used_at, usage_count, success_count, failure_count, average_execution_time";

/// A list's options: `limit`, `offset`, `sortBy`, `status` and `after` only.
pub(crate) fn list_options<'a>(options: &'a Input) -> Result<Fields<'a>> {
    let f = Fields::of_optional(options, "options")?;
    f.only(&["limit", "offset", "sortBy", "status", "after"])?;
    Ok(f)
}
