//! Reading the single value of a one-element Arrow array as a Rust scalar.
//!
//! Every helper looks at index 0 and returns `None` when the array's type does
//! not convert; callers check [`is_null`] first.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, Float16Type, Float32Type,
    Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::Array;
use arrow_schema::DataType;

/// True when the value at index 0 is NULL (including `Null`-typed and empty arrays).
pub(crate) fn is_null(a: &dyn Array) -> bool {
    a.is_empty() || a.logical_nulls().is_some_and(|n| n.is_null(0))
}

/// The value as `i64`, for any integer type whose value fits.
pub(crate) fn as_i64(a: &dyn Array) -> Option<i64> {
    Some(match a.data_type() {
        DataType::Int8 => i64::from(a.as_primitive::<Int8Type>().value(0)),
        DataType::Int16 => i64::from(a.as_primitive::<Int16Type>().value(0)),
        DataType::Int32 => i64::from(a.as_primitive::<Int32Type>().value(0)),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(0),
        DataType::UInt8 => i64::from(a.as_primitive::<UInt8Type>().value(0)),
        DataType::UInt16 => i64::from(a.as_primitive::<UInt16Type>().value(0)),
        DataType::UInt32 => i64::from(a.as_primitive::<UInt32Type>().value(0)),
        DataType::UInt64 => i64::try_from(a.as_primitive::<UInt64Type>().value(0)).ok()?,
        _ => return None,
    })
}

/// The value as `f64`, for floats, integers and decimals (possibly rounded).
pub(crate) fn as_f64(a: &dyn Array) -> Option<f64> {
    Some(match a.data_type() {
        DataType::Float16 => a.as_primitive::<Float16Type>().value(0).to_f64(),
        DataType::Float32 => f64::from(a.as_primitive::<Float32Type>().value(0)),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(0),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(0) as f64,
        DataType::Decimal32(..) => decimal(a.as_primitive::<Decimal32Type>().value_as_string(0))?,
        DataType::Decimal64(..) => decimal(a.as_primitive::<Decimal64Type>().value_as_string(0))?,
        DataType::Decimal128(..) => decimal(a.as_primitive::<Decimal128Type>().value_as_string(0))?,
        DataType::Decimal256(..) => decimal(a.as_primitive::<Decimal256Type>().value_as_string(0))?,
        _ => as_i64(a)? as f64,
    })
}

fn decimal(text: String) -> Option<f64> {
    text.parse().ok()
}

/// The value as `bool`, for `Boolean` arrays.
pub(crate) fn as_bool(a: &dyn Array) -> Option<bool> {
    match a.data_type() {
        DataType::Boolean => Some(a.as_boolean().value(0)),
        _ => None,
    }
}

/// The value as a string, for `Utf8`, `LargeUtf8` and `Utf8View` arrays.
pub(crate) fn as_str(a: &dyn Array) -> Option<&str> {
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(0)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(0)),
        DataType::Utf8View => Some(a.as_string_view().value(0)),
        _ => None,
    }
}

/// The value rendered as text: strings as-is, booleans, integers and floats
/// in their usual decimal form.
pub(crate) fn as_text(a: &dyn Array) -> Option<String> {
    if let Some(s) = as_str(a) {
        return Some(s.to_string());
    }
    if let Some(b) = as_bool(a) {
        return Some(b.to_string());
    }
    if let Some(i) = as_i64(a) {
        return Some(i.to_string());
    }
    as_f64(a).map(|f| f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Decimal128Array, Float32Array, Int8Array, NullArray, StringViewArray, UInt64Array,
    };

    #[test]
    fn conversions() {
        assert_eq!(as_i64(&Int8Array::from(vec![-3])), Some(-3));
        assert_eq!(as_i64(&UInt64Array::from(vec![u64::MAX])), None);
        assert_eq!(as_f64(&Float32Array::from(vec![1.5])), Some(1.5));
        let d = Decimal128Array::from(vec![12345])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(as_f64(&d), Some(123.45));
        assert_eq!(as_str(&StringViewArray::from(vec!["v"])), Some("v"));
        assert_eq!(as_text(&Int8Array::from(vec![7])).as_deref(), Some("7"));
        assert!(is_null(&NullArray::new(1)));
        assert!(is_null(&Int8Array::from(vec![None])));
        assert!(!is_null(&Int8Array::from(vec![Some(0)])));
    }
}
