//! Declares a DuckDB setting (`SET vgi_...`) that an extension registers.

use arrow_array::ArrayRef;

/// One setting: registered with DuckDB at load time (listed in
/// `duckdb_settings()`), read at bind and handed to every phase of a call
/// through [`Settings`](crate::Settings).
#[derive(Debug, Clone)]
pub struct SettingSpec {
    /// The setting's name, as used in `SET name = value`.
    pub name: String,
    /// What it does, shown in `duckdb_settings()`.
    pub description: String,
    /// Its default value: an array of one value, whose type is the setting's type.
    pub default: ArrayRef,
}

impl SettingSpec {
    /// A setting named `name` whose type and default come from `default`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, default: ArrayRef) -> Self {
        SettingSpec {
            name: name.into(),
            description: description.into(),
            default,
        }
    }
}
