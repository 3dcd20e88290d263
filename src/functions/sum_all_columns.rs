//! `sum_all_columns(data TABLE)`: one row with the sum of every numeric
//! column; integers sum to BIGINT, floats and decimals to DOUBLE.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Decimal256Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Float64Array, Int64Array, RecordBatch,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::sdk::ipc::{decode_batches, encode_batch};
use crate::{
    ArgSpec, BindParams, BindResponse, BufferingParams, Error, FunctionMetadata, Result,
    TableBufferingFunction, TableProducer, VecProducer,
};

const PARTIALS: &[u8] = b"partials";
const RESULT_KEY: &[u8] = b"result";

/// Sums every numeric column of its input.
pub struct SumAllColumns;

/// How one input column is summed.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Sum {
    Integer,
    Float,
}

fn sum_kind(data_type: &DataType) -> Option<Sum> {
    match data_type {
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
            sum_kind(f.data_type()).map(|kind| {
                let t = match kind {
                    Sum::Integer => DataType::Int64,
                    Sum::Float => DataType::Float64,
                };
                Field::new(f.name(), t, true)
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

fn integer_sum<T: ArrowPrimitiveType>(array: &ArrayRef, name: &str) -> Result<Option<i64>>
where
    T::Native: TryInto<i64>,
{
    let mut sum: Option<i64> = None;
    for value in array.as_primitive::<T>().iter().flatten() {
        let value: i64 = value.try_into().map_err(|_| overflow(name))?;
        sum = Some(
            sum.unwrap_or(0)
                .checked_add(value)
                .ok_or_else(|| overflow(name))?,
        );
    }
    Ok(sum)
}

fn float_sum<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    to_f64: impl Fn(T::Native) -> f64,
) -> Option<f64> {
    array
        .as_primitive::<T>()
        .iter()
        .flatten()
        .fold(None, |sum, v| Some(sum.unwrap_or(0.0) + to_f64(v)))
}

fn overflow(column: &str) -> Error {
    Error::function(format!(
        "sum_all_columns: the sum of column {column} overflows BIGINT"
    ))
}

/// Sums one column into an Int64 or Float64 array of one row.
fn sum_column(array: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let ints = |sum: Option<i64>| -> ArrayRef { Arc::new(Int64Array::from(vec![sum])) };
    let floats = |sum: Option<f64>| -> ArrayRef { Arc::new(Float64Array::from(vec![sum])) };
    Ok(match array.data_type() {
        DataType::Int8 => ints(integer_sum::<Int8Type>(array, name)?),
        DataType::Int16 => ints(integer_sum::<Int16Type>(array, name)?),
        DataType::Int32 => ints(integer_sum::<Int32Type>(array, name)?),
        DataType::Int64 => ints(integer_sum::<Int64Type>(array, name)?),
        DataType::UInt8 => ints(integer_sum::<UInt8Type>(array, name)?),
        DataType::UInt16 => ints(integer_sum::<UInt16Type>(array, name)?),
        DataType::UInt32 => ints(integer_sum::<UInt32Type>(array, name)?),
        DataType::UInt64 => ints(integer_sum::<UInt64Type>(array, name)?),
        DataType::Float16 => floats(float_sum::<Float16Type>(array, f64::from)),
        DataType::Float32 => floats(float_sum::<Float32Type>(array, f64::from)),
        DataType::Float64 => floats(float_sum::<Float64Type>(array, |v| v)),
        DataType::Decimal128(_, scale) => {
            let div = 10f64.powi(i32::from(*scale));
            floats(float_sum::<Decimal128Type>(array, |v| v as f64 / div))
        }
        DataType::Decimal256(_, scale) => {
            let div = 10f64.powi(i32::from(*scale));
            floats(float_sum::<Decimal256Type>(array, |v| {
                v.to_string().parse::<f64>().unwrap_or(f64::NAN) / div
            }))
        }
        other => {
            return Err(Error::function(format!(
                "sum_all_columns: column {name} has non-numeric type {other}"
            )))
        }
    })
}

/// Sums the numeric columns of `batch` into one row of `schema`.
fn sum_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let column = batch.column_by_name(f.name()).ok_or_else(|| {
                Error::function(format!("sum_all_columns: input has no column {}", f.name()))
            })?;
            sum_column(column, f.name())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

impl TableBufferingFunction for SumAllColumns {
    fn name(&self) -> &str {
        "sum_all_columns"
    }

    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Sums every numeric column of the input table into one row: integer columns to BIGINT, \
             float, double and decimal columns to DOUBLE; other columns are dropped.",
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

    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        let partial = sum_batch(batch, &params.output_schema)?;
        let id = params.append_batch(PARTIALS, b"", &partial)?;
        if params.arguments.get_bool("logging")?.unwrap_or(false) {
            params.log(format!(
                "sum_all_columns: summed a batch of {} rows (entry {id})",
                batch.num_rows()
            ));
        }
        Ok(id.to_le_bytes().to_vec())
    }

    fn combine(&self, params: &BufferingParams, _state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let schema = &params.output_schema;
        let mut partials = Vec::new();
        let mut producer = params.batch_producer(PARTIALS, b"");
        while let Some(batch) = producer.next_batch()? {
            partials.push(batch);
        }
        let all = arrow_select::concat::concat_batches(schema, &partials)?;
        let total = sum_batch(&all, schema)?;
        params
            .storage
            .kv_put(&params.execution_id, RESULT_KEY, &encode_batch(&total)?)?;
        Ok(vec![RESULT_KEY.to_vec()])
    }

    fn finalize_producer(
        &self,
        params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        let bytes = params
            .storage
            .kv_get(&params.execution_id, &finalize_state_id)?
            .ok_or_else(|| {
                Error::function("sum_all_columns: the combined sum is missing from the store")
            })?;
        Ok(Box::new(VecProducer::new(decode_batches(&bytes)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Decimal128Array, Int32Array, StringArray, UInt64Array};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
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
        let schema = output_schema(&input.schema()).unwrap();
        assert_eq!(schema.fields().len(), 2);
        assert_eq!(schema.field(0).name(), "a");
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
        let sums = sum_batch(&input, &schema).unwrap();
        assert_eq!(sums.column(0).as_primitive::<Int64Type>().value(0), 3);
        assert_eq!(sums.column(1).as_primitive::<Float64Type>().value(0), 3.75);
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
    fn all_null_sums_to_null_and_overflow_is_an_error() {
        let input = batch(vec![(
            "a",
            Arc::new(Int32Array::from(vec![None, None])) as ArrayRef,
        )]);
        let schema = output_schema(&input.schema()).unwrap();
        assert!(sum_batch(&input, &schema).unwrap().column(0).is_null(0));
        let big = batch(vec![(
            "u",
            Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef,
        )]);
        let schema = output_schema(&big.schema()).unwrap();
        assert!(sum_batch(&big, &schema)
            .unwrap_err()
            .to_string()
            .contains("overflows"));
    }
}
