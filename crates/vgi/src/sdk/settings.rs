//! The extension's DuckDB settings as seen by one call.

use std::collections::BTreeMap;

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;

use crate::error::{Error, Result};

/// Setting name -> value rendered as text, for the settings the extension declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    /// The settings in a one-row batch, one column per setting, each value as
    /// text (NULL values are left out).
    pub fn from_row(batch: &RecordBatch) -> Result<Self> {
        let mut settings = Settings::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let text = arrow_cast::cast(column, &DataType::Utf8)?;
            let text = text.as_any().downcast_ref::<StringArray>();
            if let Some(value) = text.filter(|t| t.len() == 1 && t.is_valid(0)) {
                settings.insert(field.name().clone(), value.value(0));
            }
        }
        Ok(settings)
    }

    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Set `name` to `value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.values.insert(name.into(), value.into())
    }

    /// The raw text of a setting.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean setting: `true`/`false`/`1`/`0`, case-insensitive, surrounding spaces ignored.
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(Error::InvalidArgument(format!(
                "setting '{name}' must be a boolean (true/false/1/0), got '{raw}'"
            ))),
        }
    }

    /// An integer setting (surrounding spaces ignored).
    pub fn get_i64(&self, name: &str) -> Result<Option<i64>> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.trim().parse().map(Some).map_err(|_| {
            Error::InvalidArgument(format!(
                "setting '{name}' must be an integer that fits in BIGINT, got '{raw}'"
            ))
        })
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of settings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no settings.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Settings {
            values: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_getters() {
        let s = Settings::new()
            .with("a", "TRUE")
            .with("b", " 0 ")
            .with("n", "-42")
            .with("bad", "yes");
        assert_eq!(s.get_bool("a").unwrap(), Some(true));
        assert_eq!(s.get_bool("b").unwrap(), Some(false));
        assert_eq!(s.get_bool("missing").unwrap(), None);
        assert_eq!(s.get_i64("n").unwrap(), Some(-42));
        assert!(s.get_bool("bad").unwrap_err().to_string().contains("'bad'"));
        assert!(s.get_i64("a").is_err());
        assert_eq!(s.iter().count(), 4);
    }
}
