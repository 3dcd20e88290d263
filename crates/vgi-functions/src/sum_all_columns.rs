//! `sum_all_columns(data TABLE)`: one row with the sum of every numeric
//! column; integers sum to BIGINT, HUGEINT and UHUGEINT to their own type
//! (exactly: a sum that does not fit is an error), floats and decimals to
//! DOUBLE.
//!
//! Its state is a few bytes per batch, so it needs no store entries: each
//! batch's partial sums are its state id, and the total is the one finalize
//! state id.
//!
//! (Over 600 lines with its unit tests, a third of the file: the exact
//! integer sums are checked here for every type and overflow edge, with
//! proptest, next to the code they check.)

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Decimal256Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Decimal128Array, Decimal256Array,
    Float64Array, Int64Array, RecordBatch,
};
use arrow_buffer::i256;
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};

mod in_place;

use vgi::ipc::{decode_batches, encode_batch};
use vgi::sdk::hugeint::{self, WideInteger};
use vgi::{
    ArgSpec, BindParams, BindResponse, BufferingParams, Error, FunctionMetadata, InPlaceSink,
    Result, TableBufferingFunction, TableProducer, VecProducer,
};

/// Sums every numeric column of its input.
pub struct SumAllColumns;

/// How one input column is summed.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Sum {
    Integer,
    /// HUGEINT or UHUGEINT, summed to the same type.
    Wide(WideInteger),
    Float,
}

fn sum_kind(field: &Field) -> Option<Sum> {
    if let Some(kind) = hugeint::wide_integer(field) {
        return Some(Sum::Wide(kind));
    }
    match field.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Some(Sum::Integer),
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => Some(Sum::Float),
        _ => None,
    }
}

/// The output schema for an input schema: one nullable column per numeric input column.
fn output_schema(input: &Schema) -> Result<SchemaRef> {
    let fields: Vec<Field> = input
        .fields()
        .iter()
        .filter_map(|f| {
            sum_kind(f).map(|kind| match kind {
                Sum::Integer => Field::new(f.name(), DataType::Int64, true),
                Sum::Wide(kind) => hugeint::field(f.name(), kind),
                Sum::Float => Field::new(f.name(), DataType::Float64, true),
            })
        })
        .collect();
    if fields.is_empty() {
        return Err(Error::function(
            "sum_all_columns requires at least one numeric column in its input",
        ));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The running sum of one column: integers exactly (in `i128`, HUGEINT and
/// UHUGEINT in `i256`, so that only the final total can overflow its type,
/// whatever the order of the rows), floats and decimals as `f64`. `None`
/// while no non-NULL value was seen.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Total {
    Integer(Option<i128>),
    Wide(WideInteger, Option<i256>),
    Float(Option<f64>),
}

impl Total {
    fn empty(kind: Sum) -> Self {
        match kind {
            Sum::Integer => Total::Integer(None),
            Sum::Wide(kind) => Total::Wide(kind, None),
            Sum::Float => Total::Float(None),
        }
    }

    fn add(self, other: Total, name: &str) -> Result<Total> {
        Ok(match (self, other) {
            (Total::Integer(a), Total::Integer(b)) => Total::Integer(match (a, b) {
                (Some(a), Some(b)) => Some(a.checked_add(b).ok_or_else(|| overflow(name))?),
                (a, b) => a.or(b),
            }),
            (Total::Wide(kind, a), Total::Wide(other, b)) if kind == other => {
                Total::Wide(kind, wide_add(a, b, kind, name)?)
            }
            (Total::Float(a), Total::Float(b)) => Total::Float(match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }),
            _ => {
                return Err(Error::function(format!(
                    "sum_all_columns: mismatched partial sums for column {name}"
                )))
            }
        })
    }
}

fn integer_total<T: ArrowPrimitiveType>(array: &ArrayRef) -> Total
where
    T::Native: IntegerBits + Into<i128>,
{
    let array = array.as_primitive::<T>();
    if array.null_count() == 0 {
        return Total::Integer((!array.is_empty()).then(|| exact_sum(array.values())));
    }
    let values = array.iter().flatten();
    Total::Integer(values.fold(None, |sum, v| Some(sum.unwrap_or(0) + v.into())))
}

/// An integer of at most 64 bits as its 64-bit two's complement pattern.
trait IntegerBits: Copy {
    /// Whether the pattern's top bit means `-2^63` (signed types).
    const SIGNED: bool;
    fn bits(self) -> u64;
}

macro_rules! integer_bits {
    ($signed:expr, $via:ty: $($t:ty),*) => {$(
        impl IntegerBits for $t {
            const SIGNED: bool = $signed;
            fn bits(self) -> u64 {
                <$via>::from(self) as u64
            }
        }
    )*};
}
integer_bits!(true, i64: i8, i16, i32, i64);
integer_bits!(false, u64: u8, u16, u32, u64);

/// The exact sum of integers of at most 64 bits, in a form the compiler
/// vectorises with plain SSE2 (64-bit adds, masks and logical shifts, no
/// 128-bit arithmetic in the loop), a block of [`SMALL_BLOCK`] values at a
/// time: one 64-bit sum when every value of the block is small
/// ([`small_sum`]), else the split sum ([`split_sum`]).
///
/// On x86-64 CPUs with AVX2 (checked at run time) the same loops run four
/// values wide instead of two.
fn exact_sum<N: IntegerBits>(values: &[N]) -> i128 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { exact_sum_avx2(values) };
    }
    exact_sum_portable(values)
}

/// [`exact_sum_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_sum_avx2<N: IntegerBits>(values: &[N]) -> i128 {
    exact_sum_portable(values)
}

/// Values per block: 2^11 values of magnitude at most 2^51 cannot
/// overflow a 64-bit sum.
const SMALL_BLOCK: usize = 1 << 11;
/// Signed values in `[-SMALL, SMALL)`, unsigned below `2 * SMALL`, are small.
const SMALL: u64 = 1 << 51;

#[inline(always)]
fn exact_sum_portable<N: IntegerBits>(values: &[N]) -> i128 {
    values
        .chunks(SMALL_BLOCK)
        .map(|block| small_sum(block).unwrap_or_else(|| split_sum(block)))
        .sum()
}

/// The sum of `block` in one 64-bit accumulator, if all its values are
/// small: a value is small when its pattern plus `SMALL` (signed) or its
/// pattern (unsigned) is below `2 * SMALL`, which holds for every value
/// exactly when it holds for their bitwise OR.
#[inline(always)]
fn small_sum<N: IntegerBits>(block: &[N]) -> Option<i128> {
    let (mut sum, mut range) = (0u64, 0u64);
    for v in block {
        let bits = v.bits();
        sum = sum.wrapping_add(bits);
        range |= if N::SIGNED {
            bits.wrapping_add(SMALL)
        } else {
            bits
        };
    }
    (range < 2 * SMALL).then(|| {
        if N::SIGNED {
            i128::from(sum as i64)
        } else {
            i128::from(sum)
        }
    })
}

/// The sum of any `block` (of at most 2^30 values): each value's bit
/// pattern is split into its high and low 32 bits, summed apart in 64 bits,
/// and the count of negative values is subtracted times 2^64 (a signed
/// value is its unsigned pattern minus 2^64).
#[inline(always)]
fn split_sum<N: IntegerBits>(block: &[N]) -> i128 {
    let (mut high, mut low, mut negative) = (0u64, 0u64, 0u64);
    for v in block {
        let bits = v.bits();
        high += bits >> 32;
        low += bits & 0xffff_ffff;
        negative += bits >> 63;
    }
    let unsigned = (i128::from(high) << 32) + i128::from(low);
    if N::SIGNED {
        unsigned - (i128::from(negative) << 64)
    } else {
        unsigned
    }
}

fn float_total<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    to_f64: impl Fn(T::Native) -> f64,
) -> Total {
    let values = array.as_primitive::<T>().iter().flatten();
    Total::Float(values.fold(None, |sum, v| Some(sum.unwrap_or(0.0) + to_f64(v))))
}

fn overflow(column: &str) -> Error {
    overflows(column, "BIGINT")
}

fn overflows(column: &str, sql_type: &str) -> Error {
    Error::function(format!(
        "sum_all_columns: the sum of column {column} overflows {sql_type}"
    ))
}

fn wide_add(
    a: Option<i256>,
    b: Option<i256>,
    kind: WideInteger,
    name: &str,
) -> Result<Option<i256>> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(
            a.checked_add(b)
                .ok_or_else(|| overflows(name, kind.sql_name()))?,
        ),
        (a, b) => a.or(b),
    })
}

/// The exact total of a HUGEINT or UHUGEINT column (in 256 bits, which 2^127
/// values of 128 bits cannot overflow).
fn wide_total(array: &ArrayRef, kind: WideInteger) -> Total {
    let array = array.as_fixed_size_binary();
    let sum = |values: &mut dyn Iterator<Item = i256>| {
        values.fold(None, |sum: Option<i256>, v| {
            Some(sum.unwrap_or(i256::ZERO).wrapping_add(v))
        })
    };
    Total::Wide(
        kind,
        match kind {
            WideInteger::Hugeint => {
                sum(&mut hugeint::i128_values(array).flatten().map(i256::from_i128))
            }
            WideInteger::Uhugeint => sum(&mut hugeint::u128_values(array)
                .flatten()
                .map(|v| i256::from_parts(v, 0))),
        },
    )
}

/// The final value of a HUGEINT or UHUGEINT total, as DuckDB stores it.
fn wide_value(total: Option<i256>, kind: WideInteger, name: &str) -> Result<Option<[u8; 16]>> {
    let Some(total) = total else {
        return Ok(None);
    };
    let (low, high) = total.to_parts();
    let fits = match kind {
        WideInteger::Hugeint => total.to_i128().is_some(),
        WideInteger::Uhugeint => high == 0,
    };
    if !fits {
        return Err(overflows(name, kind.sql_name()));
    }
    Ok(Some(low.to_le_bytes()))
}

/// The total of one input column.
fn column_total(field: &FieldRef, array: &ArrayRef) -> Option<Total> {
    if let Some(kind) = hugeint::wide_integer(field) {
        return Some(wide_total(array, kind));
    }
    Some(match array.data_type() {
        DataType::Int8 => integer_total::<Int8Type>(array),
        DataType::Int16 => integer_total::<Int16Type>(array),
        DataType::Int32 => integer_total::<Int32Type>(array),
        DataType::Int64 => integer_total::<Int64Type>(array),
        DataType::UInt8 => integer_total::<UInt8Type>(array),
        DataType::UInt16 => integer_total::<UInt16Type>(array),
        DataType::UInt32 => integer_total::<UInt32Type>(array),
        DataType::UInt64 => integer_total::<UInt64Type>(array),
        DataType::Float16 => float_total::<Float16Type>(array, f64::from),
        DataType::Float32 => float_total::<Float32Type>(array, f64::from),
        DataType::Float64 => float_total::<Float64Type>(array, |v| v),
        DataType::Decimal128(_, scale) => {
            let div = 10f64.powi(i32::from(*scale));
            float_total::<Decimal128Type>(array, |v| v as f64 / div)
        }
        DataType::Decimal256(_, scale) => {
            let div = 10f64.powi(i32::from(*scale));
            float_total::<Decimal256Type>(array, |v| {
                v.to_string().parse::<f64>().unwrap_or(f64::NAN) / div
            })
        }
        _ => return None,
    })
}

/// The totals of the numeric columns of an input batch, by position (two
/// input columns may share a name).
fn batch_totals(batch: &RecordBatch) -> Vec<Total> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter_map(|(field, column)| column_total(field, column))
        .collect()
}

/// How partial totals are stored: integers exactly as DECIMAL(38, 0),
/// HUGEINT and UHUGEINT as DECIMAL(76, 0).
fn partial_schema(output: &Schema) -> SchemaRef {
    let fields: Vec<Field> = output
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            _ if hugeint::wide_integer(f).is_some() => {
                Field::new(f.name(), DataType::Decimal256(76, 0), true)
            }
            DataType::Int64 => Field::new(f.name(), DataType::Decimal128(38, 0), true),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn partial_batch(totals: &[Total], schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = totals
        .iter()
        .map(|t| -> Result<ArrayRef> {
            Ok(match t {
                Total::Integer(v) => {
                    Arc::new(Decimal128Array::from(vec![*v]).with_precision_and_scale(38, 0)?)
                }
                Total::Wide(_, v) => {
                    Arc::new(Decimal256Array::from(vec![*v]).with_precision_and_scale(76, 0)?)
                }
                Total::Float(v) => Arc::new(Float64Array::from(vec![*v])),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Adds a stored partial batch to `totals`.
fn add_partial(totals: &mut [Total], partial: &RecordBatch, output: &Schema) -> Result<()> {
    for ((total, column), field) in totals
        .iter_mut()
        .zip(partial.columns())
        .zip(output.fields())
    {
        let part = match total {
            Total::Integer(_) => {
                let values = column.as_primitive::<Decimal128Type>().iter().flatten();
                Total::Integer(values.fold(None, |s: Option<i128>, v| Some(s.unwrap_or(0) + v)))
            }
            Total::Wide(kind, _) => {
                let mut part = Total::Wide(*kind, None);
                for v in column.as_primitive::<Decimal256Type>().iter().flatten() {
                    part = part.add(Total::Wide(*kind, Some(v)), field.name())?;
                }
                part
            }
            Total::Float(_) => float_total::<Float64Type>(column, |v| v),
        };
        *total = total.add(part, field.name())?;
    }
    Ok(())
}

/// The final row: integer totals must fit BIGINT.
fn output_batch(totals: &[Total], output: &SchemaRef) -> Result<RecordBatch> {
    let columns = totals
        .iter()
        .zip(output.fields())
        .map(|(t, f)| -> Result<ArrayRef> {
            Ok(match t {
                Total::Integer(v) => {
                    let v = v
                        .map(|v| i64::try_from(v).map_err(|_| overflow(f.name())))
                        .transpose()?;
                    Arc::new(Int64Array::from(vec![v]))
                }
                Total::Wide(kind, v) => hugeint::array([wide_value(*v, *kind, f.name())?]),
                Total::Float(v) => Arc::new(Float64Array::from(vec![*v])),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(output.clone(), columns)?)
}

fn empty_totals(output: &Schema) -> Vec<Total> {
    output
        .fields()
        .iter()
        .map(|f| match sum_kind(f) {
            Some(kind @ (Sum::Integer | Sum::Wide(_))) => Total::empty(kind),
            _ => Total::empty(Sum::Float),
        })
        .collect()
}

impl TableBufferingFunction for SumAllColumns {
    fn name(&self) -> &str {
        "sum_all_columns"
    }

    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Sums every numeric column of the input table into one row: integer columns to BIGINT, \
             HUGEINT and UHUGEINT columns to their own type (exactly), float, double and decimal \
             columns to DOUBLE; other columns are dropped.",
        )
        .with_example("SELECT * FROM sum_all_columns((SELECT * FROM range(10) t(i)))")
    }

    fn argument_specs(&self) -> Vec<ArgSpec> {
        vec![
            ArgSpec::table("data").with_doc("the table whose numeric columns are summed"),
            ArgSpec::named("logging", DataType::Boolean)
                .with_default(Arc::new(BooleanArray::from(vec![false])))
                .with_doc("log one INFO line per input batch to duckdb_logs()"),
        ]
    }

    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        Ok(BindResponse::new(output_schema(&params.input_schema)?))
    }

    /// The partial sums of a batch are a few bytes: they travel as the state
    /// id itself (an IPC stream of one row), not through a store entry.
    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        let partial = partial_batch(&batch_totals(batch), &partial_schema(&params.output_schema))?;
        if params.arguments.get_bool("logging")?.unwrap_or(false) {
            params.log(format!(
                "sum_all_columns: summed a batch of {} rows",
                batch.num_rows()
            ));
        }
        encode_batch(&partial)
    }

    /// In DuckDB's process, a thread's chunks are summed where DuckDB keeps
    /// them, without the copy into Arrow batches.
    fn in_place_sink(&self, params: &BufferingParams) -> Result<Option<Box<dyn InPlaceSink>>> {
        Ok(in_place::InPlaceSums::for_call(params)?
            .map(|sink| Box::new(sink) as Box<dyn InPlaceSink>))
    }

    fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let schema = &params.output_schema;
        let mut totals = empty_totals(schema);
        for state_id in state_ids {
            for partial in decode_batches(state_id)? {
                add_partial(&mut totals, &partial, schema)?;
            }
        }
        // The one-row result is the finalize state id itself.
        Ok(vec![encode_batch(&output_batch(&totals, schema)?)?])
    }

    fn finalize_producer(
        &self,
        _params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        Ok(Box::new(VecProducer::new(decode_batches(
            &finalize_state_id,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, StringArray, UInt64Array};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    /// process over each batch, then combine, as the operator runs them.
    fn sum(batches: &[RecordBatch]) -> Result<RecordBatch> {
        let output = output_schema(&batches[0].schema())?;
        let mut totals = empty_totals(&output);
        for b in batches {
            let partial = partial_batch(&batch_totals(b), &partial_schema(&output))?;
            add_partial(&mut totals, &partial, &output)?;
        }
        output_batch(&totals, &output)
    }

    proptest::proptest! {
        #[test]
        fn exact_sum_equals_the_naive_sum(
            signed in proptest::collection::vec(proptest::num::i64::ANY, 0..300),
            unsigned in proptest::collection::vec(proptest::num::u64::ANY, 0..300),
            small in proptest::collection::vec(proptest::num::i8::ANY, 0..300),
        ) {
            proptest::prop_assert_eq!(exact_sum(&signed), signed.iter().map(|v| i128::from(*v)).sum::<i128>());
            proptest::prop_assert_eq!(exact_sum(&unsigned), unsigned.iter().map(|v| i128::from(*v)).sum::<i128>());
            proptest::prop_assert_eq!(exact_sum(&small), small.iter().map(|v| i128::from(*v)).sum::<i128>());
            // The loop without AVX2, on CPUs that have it too.
            proptest::prop_assert_eq!(exact_sum_portable(&signed), exact_sum(&signed));
            proptest::prop_assert_eq!(exact_sum_portable(&unsigned), exact_sum(&unsigned));
        }
    }

    proptest::proptest! {
        #[test]
        fn blocks_of_small_and_large_values_sum_exactly(
            small in proptest::collection::vec(-(1i64 << 51)..(1i64 << 51), 1..5000),
            large in proptest::collection::vec((0usize..5000, proptest::num::i64::ANY), 0..4),
            unsigned in proptest::collection::vec(0u64..(1u64 << 52), 1..5000),
        ) {
            let mut signed = small;
            for (at, value) in large {
                let at = at % signed.len();
                signed[at] = value;
            }
            proptest::prop_assert_eq!(exact_sum(&signed), signed.iter().map(|v| i128::from(*v)).sum::<i128>());
            proptest::prop_assert_eq!(exact_sum(&unsigned), unsigned.iter().map(|v| i128::from(*v)).sum::<i128>());
        }
    }

    #[test]
    fn the_one_accumulator_takes_small_blocks_only() {
        let bound = 1i64 << 51;
        assert!(small_sum(&[-bound, bound - 1]).is_some());
        assert!(small_sum(&[bound]).is_none());
        assert!(small_sum(&[-bound - 1]).is_none());
        assert!(small_sum(&[(1u64 << 52) - 1]).is_some());
        assert!(small_sum(&[1u64 << 52]).is_none());
        let full = vec![bound - 1; SMALL_BLOCK];
        assert_eq!(
            small_sum(&full),
            Some(i128::from(bound - 1) * SMALL_BLOCK as i128)
        );
        let most_negative = vec![-bound; SMALL_BLOCK];
        assert_eq!(
            exact_sum(&most_negative),
            -i128::from(bound) * SMALL_BLOCK as i128
        );
        let unsigned = vec![(1u64 << 52) - 1; SMALL_BLOCK];
        assert_eq!(
            exact_sum(&unsigned),
            i128::from((1u64 << 52) - 1) * SMALL_BLOCK as i128
        );
    }

    #[test]
    fn exact_sum_at_the_limits() {
        assert_eq!(exact_sum(&[i64::MIN; 3]), 3 * i128::from(i64::MIN));
        assert_eq!(exact_sum(&[i64::MAX; 3]), 3 * i128::from(i64::MAX));
        assert_eq!(exact_sum(&[u64::MAX; 3]), 3 * i128::from(u64::MAX));
        assert_eq!(exact_sum(&[i8::MIN, -1, i8::MAX]), -2);
        assert_eq!(exact_sum(&[u32::MAX, 1]), 1 << 32);
        assert_eq!(exact_sum::<i64>(&[]), 0);
    }

    #[test]
    fn numeric_columns_only_keep_their_names() {
        let input = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("s", Arc::new(StringArray::from(vec!["x", "y"]))),
            (
                "d",
                Arc::new(
                    Decimal128Array::from(vec![125, 250])
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
            ),
        ]);
        let sums = sum(&[input]).unwrap();
        assert_eq!(sums.schema().field(0).name(), "a");
        assert_eq!(sums.schema().field(1).name(), "d");
        assert_eq!(sums.column(0).as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(sums.column(1).as_primitive::<Float64Type>().value(0), 3.75);
    }

    #[test]
    fn columns_are_summed_by_position_even_with_equal_names() {
        let input = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
            ("a", Arc::new(Int32Array::from(vec![2]))),
        ]);
        let sums = sum(&[input]).unwrap();
        assert_eq!(sums.column(0).as_primitive::<Int64Type>().value(0), 1);
        assert_eq!(sums.column(1).as_primitive::<Int64Type>().value(0), 2);
    }

    #[test]
    fn no_numeric_column_is_a_bind_error() {
        let input = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )]);
        let err = output_schema(&input.schema()).unwrap_err().to_string();
        assert!(err.contains("requires at least one numeric"), "{err}");
    }

    #[test]
    fn only_the_total_can_overflow() {
        let a = |v: Vec<i64>| batch(vec![("a", Arc::new(Int64Array::from(v)) as ArrayRef)]);
        let fits = sum(&[a(vec![i64::MAX, 1]), a(vec![-1])]).unwrap();
        assert_eq!(
            fits.column(0).as_primitive::<Int64Type>().value(0),
            i64::MAX
        );
        let err = sum(&[a(vec![i64::MAX]), a(vec![1])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("overflows"), "{err}");
        let big = batch(vec![(
            "u",
            Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef,
        )]);
        assert!(sum(&[big]).unwrap_err().to_string().contains("overflows"));
    }

    #[test]
    fn all_null_and_empty_sum_to_null() {
        let nulls = batch(vec![(
            "a",
            Arc::new(Int32Array::from(vec![None, None])) as ArrayRef,
        )]);
        assert!(sum(&[nulls]).unwrap().column(0).is_null(0));
        let empty = batch(vec![(
            "a",
            Arc::new(Int32Array::from(Vec::<i32>::new())) as ArrayRef,
        )]);
        assert!(sum(&[empty]).unwrap().column(0).is_null(0));
    }

    fn wide(name: &str, kind: WideInteger, values: Vec<Option<i128>>) -> RecordBatch {
        let column = hugeint::array(values.into_iter().map(|v| v.map(i128::to_le_bytes)));
        let schema = Schema::new(vec![hugeint::field(name, kind)]);
        RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap()
    }

    fn wide_result(sums: &RecordBatch) -> Option<[u8; 16]> {
        let column = sums.column(0).as_fixed_size_binary();
        column
            .is_valid(0)
            .then(|| column.value(0).try_into().unwrap())
    }

    #[test]
    fn hugeint_columns_are_summed_exactly_to_hugeint() {
        let h = |v: Vec<Option<i128>>| wide("h", WideInteger::Hugeint, v);
        // The partial sums pass i128::MAX on the way; the total fits.
        let sums = sum(&[
            h(vec![Some(i128::MAX), Some(i128::MAX)]),
            h(vec![Some(i128::MIN), None]),
        ])
        .unwrap();
        assert_eq!(
            hugeint::wide_integer(sums.schema().field(0)),
            Some(WideInteger::Hugeint)
        );
        assert_eq!(wide_result(&sums), Some((i128::MAX - 1).to_le_bytes()));
        let err = sum(&[h(vec![Some(i128::MAX)]), h(vec![Some(1)])]).unwrap_err();
        assert!(
            err.to_string().contains("column h overflows HUGEINT"),
            "{err}"
        );
        let err = sum(&[h(vec![Some(i128::MIN), Some(-1)])]).unwrap_err();
        assert!(err.to_string().contains("overflows HUGEINT"), "{err}");
        assert_eq!(wide_result(&sum(&[h(vec![None])]).unwrap()), None);
    }

    #[test]
    fn uhugeint_columns_are_summed_exactly_to_uhugeint() {
        let u = |v: Vec<u128>| {
            let column = hugeint::array(v.into_iter().map(|v| Some(v.to_le_bytes())));
            let schema = Schema::new(vec![hugeint::field("u", WideInteger::Uhugeint)]);
            RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap()
        };
        let sums = sum(&[u(vec![u128::MAX - 1]), u(vec![1])]).unwrap();
        assert_eq!(wide_result(&sums), Some(u128::MAX.to_le_bytes()));
        let err = sum(&[u(vec![u128::MAX, 1])]).unwrap_err();
        assert!(
            err.to_string().contains("column u overflows UHUGEINT"),
            "{err}"
        );
    }

    #[test]
    fn a_hugeint_column_is_numeric_beside_others() {
        let input = batch(vec![("i", Arc::new(Int32Array::from(vec![2])) as ArrayRef)]);
        let h = wide("h", WideInteger::Hugeint, vec![Some(1)]);
        let both = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                h.schema().field(0).clone(),
                input.schema().field(0).clone(),
            ])),
            vec![h.column(0).clone(), input.column(0).clone()],
        )
        .unwrap();
        let sums = sum(&[both]).unwrap();
        assert_eq!(sums.num_columns(), 2);
        assert_eq!(wide_result(&sums), Some(1i128.to_le_bytes()));
        assert_eq!(sums.column(1).as_primitive::<Int64Type>().value(0), 2);
    }
}
