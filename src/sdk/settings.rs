//! The extension's DuckDB settings as seen by one call.

use std::collections::BTreeMap;

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;

use super::error::{Error, Result};

/// Setting name -> value rendered as text, for the settings the extension declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

/// Magic prefix of [`Settings::to_bytes`], versioned.
const MAGIC: &[u8; 5] = b"VGIS1";

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

    /// Encode as `VGIS1`, a `u64` count, then per entry a `u64` name length,
    /// the name, a `u64` value length and the value (all little-endian, UTF-8).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_len(&mut out, self.values.len());
        for (k, v) in &self.values {
            put_len(&mut out, k.len());
            out.extend_from_slice(k.as_bytes());
            put_len(&mut out, v.len());
            out.extend_from_slice(v.as_bytes());
        }
        out
    }

    /// Decode bytes written by [`to_bytes`](Self::to_bytes); malformed input is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { rest: bytes };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(malformed("bad magic"));
        }
        let count = r.len()?;
        let mut values = BTreeMap::new();
        for _ in 0..count {
            let k = r.string()?;
            let v = r.string()?;
            if values.insert(k, v).is_some() {
                return Err(malformed("duplicate setting name"));
            }
        }
        if !r.rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(Settings { values })
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

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn malformed(reason: &str) -> Error {
    Error::Decode {
        what: "settings",
        reason: reason.to_string(),
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        usize::try_from(u64::from_le_bytes(raw)).map_err(|_| malformed("length overflow"))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.len()?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| malformed("invalid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn round_trip() {
        let s = Settings::new().with("x", "1").with("é", "").with("", "v\0");
        assert_eq!(Settings::from_bytes(&s.to_bytes()).unwrap(), s);
        assert_eq!(
            Settings::from_bytes(&Settings::new().to_bytes()).unwrap(),
            Settings::new()
        );
        let mut long = s.to_bytes();
        long.push(0);
        assert!(Settings::from_bytes(&long).is_err());
        let bytes = s.to_bytes();
        for cut in 0..bytes.len() {
            assert!(Settings::from_bytes(&bytes[..cut]).is_err());
        }
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Settings::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_never_panics_after_magic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend(tail);
            let _ = Settings::from_bytes(&bytes);
        }

        #[test]
        fn round_trips(m in proptest::collection::btree_map(".*", ".*", 0..8)) {
            let s: Settings = m.into_iter().collect();
            prop_assert_eq!(Settings::from_bytes(&s.to_bytes()).unwrap(), s);
        }
    }
}
