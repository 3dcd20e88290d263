//! DuckDB's 128-bit integers as functions see them.
//!
//! DuckDB hands `HUGEINT` and `UHUGEINT` columns to functions as Arrow
//! `FixedSizeBinary(16)` columns tagged with DuckDB's extension type: field
//! metadata `ARROW:extension:name = arrow.opaque` and
//! `ARROW:extension:metadata = {"vendor_name": "DuckDB", "type_name":
//! "hugeint"}` (or `"uhugeint"`). Each value is the integer's 16 bytes,
//! little-endian (two's complement for `HUGEINT`). A column built with
//! [`field`] and [`array`] goes back to DuckDB as the same type.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, FixedSizeBinaryArray};
use arrow_schema::{DataType, Field};

const EXTENSION_NAME: &str = "ARROW:extension:name";
const EXTENSION_METADATA: &str = "ARROW:extension:metadata";
const OPAQUE: &str = "arrow.opaque";

/// Which of DuckDB's 128-bit integer types a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WideInteger {
    /// `HUGEINT`: signed, `i128`.
    Hugeint,
    /// `UHUGEINT`: unsigned, `u128`.
    Uhugeint,
}

impl WideInteger {
    /// The DuckDB type name, e.g. for error messages.
    pub fn sql_name(self) -> &'static str {
        match self {
            WideInteger::Hugeint => "HUGEINT",
            WideInteger::Uhugeint => "UHUGEINT",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            WideInteger::Hugeint => "hugeint",
            WideInteger::Uhugeint => "uhugeint",
        }
    }
}

/// Whether `field` is a `HUGEINT` or `UHUGEINT` column, and which.
pub fn wide_integer(field: &Field) -> Option<WideInteger> {
    if field.data_type() != &DataType::FixedSizeBinary(16)
        || field.metadata().get(EXTENSION_NAME).map(String::as_str) != Some(OPAQUE)
    {
        return None;
    }
    // A JSON object of two strings; compared without its whitespace.
    let metadata: String = field
        .metadata()
        .get(EXTENSION_METADATA)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !metadata.contains(r#""vendor_name":"DuckDB""#) {
        return None;
    }
    [WideInteger::Hugeint, WideInteger::Uhugeint]
        .into_iter()
        .find(|kind| metadata.contains(&format!(r#""type_name":"{}""#, kind.type_name())))
}

/// A nullable column `name` of DuckDB type `kind`.
pub fn field(name: impl Into<String>, kind: WideInteger) -> Field {
    let metadata = HashMap::from([
        (EXTENSION_NAME.to_string(), OPAQUE.to_string()),
        (
            EXTENSION_METADATA.to_string(),
            format!(
                r#"{{"vendor_name":"DuckDB","type_name":"{}"}}"#,
                kind.type_name()
            ),
        ),
    ]);
    Field::new(name, DataType::FixedSizeBinary(16), true).with_metadata(metadata)
}

/// The values of a `HUGEINT` column.
pub fn i128_values(array: &FixedSizeBinaryArray) -> impl Iterator<Item = Option<i128>> + '_ {
    array
        .iter()
        .map(|v| v.map(|bytes| i128::from_le_bytes(bytes.try_into().expect("16 bytes"))))
}

/// The values of a `UHUGEINT` column.
pub fn u128_values(array: &FixedSizeBinaryArray) -> impl Iterator<Item = Option<u128>> + '_ {
    array
        .iter()
        .map(|v| v.map(|bytes| u128::from_le_bytes(bytes.try_into().expect("16 bytes"))))
}

/// A `HUGEINT` (or, with `u128` values cast, `UHUGEINT`) column of `values`.
pub fn array(values: impl IntoIterator<Item = Option<[u8; 16]>>) -> Arc<dyn Array> {
    let values: Vec<Option<[u8; 16]>> = values.into_iter().collect();
    Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), 16)
            .expect("16-byte values"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_duckdbs_fields_and_round_trips_values() {
        for kind in [WideInteger::Hugeint, WideInteger::Uhugeint] {
            assert_eq!(wide_integer(&field("h", kind)), Some(kind));
        }
        // As DuckDB writes it (a JSON map in any order, with spaces).
        let duckdb =
            Field::new("h", DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([
                (EXTENSION_NAME.to_string(), OPAQUE.to_string()),
                (
                    EXTENSION_METADATA.to_string(),
                    r#"{"type_name": "uhugeint", "vendor_name": "DuckDB"}"#.to_string(),
                ),
            ]));
        assert_eq!(wide_integer(&duckdb), Some(WideInteger::Uhugeint));
        assert_eq!(
            wide_integer(&Field::new("b", DataType::FixedSizeBinary(16), true)),
            None
        );
        let values = [Some(i128::MIN), None, Some(-1), Some(i128::MAX)];
        let column = array(values.iter().map(|v| v.map(i128::to_le_bytes)));
        let column = column
            .as_any()
            .downcast_ref::<FixedSizeBinaryArray>()
            .unwrap();
        assert_eq!(i128_values(column).collect::<Vec<_>>(), values);
        assert_eq!(
            u128_values(column).nth(2).unwrap(),
            Some(u128::MAX),
            "the same bytes read unsigned"
        );
    }
}
