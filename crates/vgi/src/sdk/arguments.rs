//! The constant arguments of one function call.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema};

use super::scalar;
use crate::error::{Error, Result};
use crate::ipc;

/// The constant arguments of one call: an ordered list of `(name, value)`
/// where each value is a one-element Arrow array.
///
/// Stored as a one-row [`RecordBatch`] whose column names are the parameter
/// names (positional arguments carry their [`ArgSpec`](super::ArgSpec) name).
/// Names may repeat (variadic parameters); lookups by name return the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Arguments {
    batch: RecordBatch,
}

impl Default for Arguments {
    fn default() -> Self {
        Self::empty()
    }
}

impl Arguments {
    /// No arguments.
    pub fn empty() -> Self {
        let options = RecordBatchOptions::new().with_row_count(Some(1));
        let batch = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options)
            .expect("a column-less batch with an explicit row count is always valid");
        Arguments { batch }
    }

    /// Wrap a batch with exactly one row (any row count is accepted when it has no columns).
    pub fn from_batch(batch: RecordBatch) -> Result<Self> {
        if batch.num_columns() == 0 {
            return Ok(Self::empty());
        }
        if batch.num_rows() != 1 {
            return Err(Error::InvalidArgument(format!(
                "arguments batch must have exactly 1 row, got {}",
                batch.num_rows()
            )));
        }
        Ok(Arguments { batch })
    }

    /// Build from `(name, value)` pairs; every value must have length 1.
    pub fn try_from_pairs<N: Into<String>>(
        pairs: impl IntoIterator<Item = (N, ArrayRef)>,
    ) -> Result<Self> {
        let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = pairs
            .into_iter()
            .map(|(name, value)| {
                let field = Field::new(name.into(), value.data_type().clone(), true);
                (field, value)
            })
            .unzip();
        if columns.is_empty() {
            return Ok(Self::empty());
        }
        if let Some((f, c)) = fields.iter().zip(&columns).find(|(_, c)| c.len() != 1) {
            return Err(Error::InvalidArgument(format!(
                "argument '{}' must hold exactly 1 value, got {}",
                f.name(),
                c.len()
            )));
        }
        Self::from_batch(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// The underlying one-row batch.
    pub fn as_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.batch.num_columns()
    }

    /// True when there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    /// `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArrayRef)> {
        self.batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .zip(self.batch.columns())
    }

    /// The value of the first argument called `name`.
    pub fn get(&self, name: &str) -> Option<&ArrayRef> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// True when `name` is absent or its value is NULL.
    pub fn is_null(&self, name: &str) -> bool {
        self.get(name).is_none_or(|v| scalar::is_null(v))
    }

    /// An integer argument (any signed or unsigned integer type whose value fits in `i64`).
    pub fn get_i64(&self, name: &str) -> Result<Option<i64>> {
        self.typed(name, "an integer that fits in BIGINT", scalar::as_i64)
    }

    /// A numeric argument (floats, integers and decimals).
    pub fn get_f64(&self, name: &str) -> Result<Option<f64>> {
        self.typed(name, "a number", scalar::as_f64)
    }

    /// A boolean argument.
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>> {
        self.typed(name, "a BOOLEAN", scalar::as_bool)
    }

    /// A string argument (`Utf8`, `LargeUtf8` or `Utf8View`).
    pub fn get_str(&self, name: &str) -> Result<Option<String>> {
        self.typed(name, "a VARCHAR", |a| scalar::as_str(a).map(str::to_string))
    }

    fn typed<T>(
        &self,
        name: &str,
        expected: &str,
        convert: impl FnOnce(&dyn arrow_array::Array) -> Option<T>,
    ) -> Result<Option<T>> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        if scalar::is_null(value) {
            return Ok(None);
        }
        match convert(value.as_ref()) {
            Some(v) => Ok(Some(v)),
            None => Err(Error::InvalidArgument(format!(
                "argument '{name}' must be {expected}, got a value of type {}",
                value.data_type()
            ))),
        }
    }

    /// Encode as an Arrow IPC stream holding one batch.
    pub fn to_ipc_bytes(&self) -> Result<Vec<u8>> {
        ipc::encode_batch(&self.batch)
    }

    /// Decode bytes written by [`to_ipc_bytes`](Self::to_ipc_bytes); malformed input is an error.
    pub fn from_ipc_bytes(bytes: &[u8]) -> Result<Self> {
        let (_, mut batches) = ipc::decode_stream(bytes)?;
        if batches.len() != 1 {
            return Err(Error::Decode {
                what: "arguments",
                reason: format!("expected 1 record batch, found {}", batches.len()),
            });
        }
        Self::from_batch(batches.remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        BooleanArray, Decimal128Array, Float64Array, Int16Array, Int32Array, LargeStringArray,
        NullArray, StringArray, UInt64Array,
    };
    use proptest::prelude::*;

    fn sample() -> Arguments {
        let d = Decimal128Array::from(vec![250])
            .with_precision_and_scale(5, 2)
            .unwrap();
        Arguments::try_from_pairs([
            ("n", Arc::new(Int16Array::from(vec![7])) as ArrayRef),
            ("big", Arc::new(UInt64Array::from(vec![u64::MAX]))),
            ("x", Arc::new(Float64Array::from(vec![0.5]))),
            ("d", Arc::new(d)),
            ("flag", Arc::new(BooleanArray::from(vec![true]))),
            ("s", Arc::new(StringArray::from(vec!["hi"]))),
            ("ls", Arc::new(LargeStringArray::from(vec!["large"]))),
            ("nul", Arc::new(Int32Array::from(vec![None]))),
            ("untyped", Arc::new(NullArray::new(1))),
        ])
        .unwrap()
    }

    #[test]
    fn getters() {
        let a = sample();
        assert_eq!(a.len(), 9);
        assert_eq!(a.names()[..3], ["n", "big", "x"]);
        assert_eq!(a.get_i64("n").unwrap(), Some(7));
        assert_eq!(a.get_f64("n").unwrap(), Some(7.0));
        assert_eq!(a.get_f64("x").unwrap(), Some(0.5));
        assert_eq!(a.get_f64("d").unwrap(), Some(2.5));
        assert_eq!(a.get_bool("flag").unwrap(), Some(true));
        assert_eq!(a.get_str("s").unwrap().as_deref(), Some("hi"));
        assert_eq!(a.get_str("ls").unwrap().as_deref(), Some("large"));
        assert_eq!(a.get_i64("nul").unwrap(), None);
        assert_eq!(a.get_str("untyped").unwrap(), None);
        assert_eq!(a.get_i64("missing").unwrap(), None);
        assert!(a.is_null("nul") && a.is_null("untyped") && a.is_null("missing"));
        assert!(!a.is_null("n"));
    }

    #[test]
    fn type_mismatch_names_argument_and_type() {
        let a = sample();
        let msg = a.get_i64("s").unwrap_err().to_string();
        assert!(msg.contains("'s'") && msg.contains("integer"), "{msg}");
        let msg = a.get_i64("big").unwrap_err().to_string();
        assert!(msg.contains("'big'") && msg.contains("UInt64"), "{msg}");
        assert!(matches!(
            a.get_bool("n"),
            Err(Error::InvalidArgument(m)) if m.contains("BOOLEAN")
        ));
        assert!(a.get_str("flag").is_err());
        assert!(a.get_f64("s").is_err());
    }

    #[test]
    fn from_batch_checks_rows() {
        let two =
            RecordBatch::try_from_iter([("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef)])
                .unwrap();
        assert!(matches!(
            Arguments::from_batch(two),
            Err(Error::InvalidArgument(_))
        ));
        let none = RecordBatch::new_empty(Arc::new(Schema::empty()));
        assert!(Arguments::from_batch(none).unwrap().is_empty());
        let bad =
            Arguments::try_from_pairs([("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef)]);
        assert!(bad.unwrap_err().to_string().contains("'a'"));
    }

    #[test]
    fn ipc_round_trip() {
        let a = sample();
        let back = Arguments::from_ipc_bytes(&a.to_ipc_bytes().unwrap()).unwrap();
        assert_eq!(back, a);
        let e = Arguments::empty();
        let back = Arguments::from_ipc_bytes(&e.to_ipc_bytes().unwrap()).unwrap();
        assert!(back.is_empty());
        assert_eq!(back.as_batch().num_rows(), 1);
    }

    proptest! {
        #[test]
        fn from_ipc_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Arguments::from_ipc_bytes(&bytes);
        }

        #[test]
        fn from_ipc_bytes_survives_corruption(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = sample().to_ipc_bytes().unwrap();
            for (i, v) in flips {
                let i = i.index(bytes.len());
                bytes[i] = v;
            }
            let keep = cut.index(bytes.len() + 1);
            let _ = Arguments::from_ipc_bytes(&bytes[..keep]);
        }
    }
}
