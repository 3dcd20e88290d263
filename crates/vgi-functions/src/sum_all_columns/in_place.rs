//! `sum_all_columns` reading DuckDB's vectors in place: a thread's chunks
//! fold into one set of totals, whose partial batch is the thread's state
//! id, as `process` makes for a batch. For inputs whose numeric columns
//! are all integers of at most 64 bits, FLOAT or DOUBLE; other inputs go
//! through `process`.

use arrow_schema::{DataType, Field, SchemaRef};

use vgi::ipc::encode_batch;
use vgi::{BufferingParams, ChunkView, ColumnView, Error, InPlaceSink, Result, Values};

use super::{exact_sum, partial_batch, partial_schema, sum_kind, IntegerBits, Sum, Total};

/// The totals of one thread's input so far.
pub(super) struct InPlaceSums {
    totals: Vec<Total>,
    /// For each input column, whether it is summed (numeric).
    summed: Vec<bool>,
    names: Vec<String>,
    partial: SchemaRef,
}

/// Whether DuckDB keeps the column of `field` as the plain values
/// [`ColumnView`] reads: integers of at most 64 bits, FLOAT and DOUBLE.
fn readable_in_place(field: &Field) -> bool {
    sum_kind(field) == Some(Sum::Integer)
        || matches!(field.data_type(), DataType::Float32 | DataType::Float64)
}

impl InPlaceSums {
    /// A sink for the call of `params`, unless a numeric column must go
    /// through Arrow (HUGEINT, DECIMAL, HALF FLOAT) or the call logs a line
    /// per batch (`logging := true`).
    pub(super) fn for_call(params: &BufferingParams) -> Result<Option<Self>> {
        if params.arguments.get_bool("logging")?.unwrap_or(false) {
            return Ok(None);
        }
        let fields = params.input_schema.fields();
        let summed: Vec<bool> = fields.iter().map(|f| sum_kind(f).is_some()).collect();
        // HUGEINT and UHUGEINT are fixed-size binary columns: not readable.
        let in_place = fields
            .iter()
            .zip(&summed)
            .all(|(f, summed)| !summed || readable_in_place(f));
        if !in_place {
            return Ok(None);
        }
        let names = fields
            .iter()
            .zip(&summed)
            .filter(|(_, summed)| **summed)
            .map(|(f, _)| f.name().clone())
            .collect();
        let totals = fields
            .iter()
            .filter_map(|f| sum_kind(f).map(Total::empty))
            .collect();
        Ok(Some(InPlaceSums {
            totals,
            summed,
            names,
            partial: partial_schema(&params.output_schema),
        }))
    }
}

/// The total of one integer column of a chunk.
fn integer_part<N: IntegerBits + Into<i128>>(values: &Values<'_, N>) -> Total {
    if values.all_valid() {
        return Total::Integer((!values.values().is_empty()).then(|| exact_sum(values.values())));
    }
    Total::Integer(
        values
            .iter()
            .flatten()
            .fold(None, |sum, v| Some(sum.unwrap_or(0) + v.into())),
    )
}

/// The total of one FLOAT or DOUBLE column of a chunk.
fn float_part<T: Copy + Into<f64>>(values: &Values<'_, T>) -> Total {
    Total::Float(
        values
            .iter()
            .flatten()
            .fold(None, |sum, v| Some(sum.unwrap_or(0.0) + v.into())),
    )
}

impl InPlaceSink for InPlaceSums {
    fn sink(&mut self, chunk: &ChunkView<'_>) -> Result<()> {
        let columns = chunk
            .columns()
            .iter()
            .zip(&self.summed)
            .filter(|(_, summed)| **summed);
        for ((column, _), (total, name)) in columns.zip(self.totals.iter_mut().zip(&self.names)) {
            let part = match column {
                ColumnView::Int8(v) => integer_part(v),
                ColumnView::Int16(v) => integer_part(v),
                ColumnView::Int32(v) => integer_part(v),
                ColumnView::Int64(v) => integer_part(v),
                ColumnView::UInt8(v) => integer_part(v),
                ColumnView::UInt16(v) => integer_part(v),
                ColumnView::UInt32(v) => integer_part(v),
                ColumnView::UInt64(v) => integer_part(v),
                ColumnView::Float32(v) => float_part(v),
                ColumnView::Float64(v) => float_part(v),
                _ => {
                    return Err(Error::function(format!(
                        "sum_all_columns: column {name} cannot be read in place"
                    )))
                }
            };
            *total = total.add(part, name)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>> {
        encode_batch(&partial_batch(&self.totals, &self.partial)?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, UInt8Type};
    use arrow_array::{
        ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray, UInt8Array,
    };
    use vgi::ipc::decode_batches;
    use vgi::store::test_store;
    use vgi::TableBufferingFunction;

    use super::super::{output_schema, SumAllColumns};
    use super::*;

    fn params(input: &RecordBatch) -> BufferingParams {
        let (_dir, store) = test_store();
        let schema = input.schema();
        BufferingParams::new(
            vec![1],
            store,
            schema.clone(),
            output_schema(&schema).unwrap(),
        )
    }

    /// DuckDB's validity words for an Arrow column's nulls.
    fn mask(array: &ArrayRef) -> Option<Vec<u64>> {
        array.nulls().map(|nulls| {
            let mut words = vec![0u64; nulls.len().div_ceil(64)];
            for row in (0..nulls.len()).filter(|row| nulls.is_valid(*row)) {
                words[row / 64] |= 1 << (row % 64);
            }
            words
        })
    }

    /// The sum of `input` through the in-place sink, `chunk` rows at a time.
    fn in_place(input: &RecordBatch, chunk: usize) -> Vec<u8> {
        let mut sink = SumAllColumns
            .in_place_sink(&params(input))
            .unwrap()
            .expect("readable in place");
        for start in (0..input.num_rows()).step_by(chunk) {
            let rows = chunk.min(input.num_rows() - start);
            let part = input.slice(start, rows);
            let part_masks: Vec<Option<Vec<u64>>> = part.columns().iter().map(mask).collect();
            let columns: Vec<ColumnView<'_>> = part
                .columns()
                .iter()
                .zip(&part_masks)
                .map(|(column, mask)| {
                    let validity = mask.as_deref();
                    match column.data_type() {
                        DataType::Int64 => ColumnView::Int64(Values::new(
                            column.as_primitive::<Int64Type>().values(),
                            validity,
                        )),
                        DataType::UInt8 => ColumnView::UInt8(Values::new(
                            column.as_primitive::<UInt8Type>().values(),
                            validity,
                        )),
                        DataType::Float64 => ColumnView::Float64(Values::new(
                            column.as_primitive::<Float64Type>().values(),
                            validity,
                        )),
                        _ => ColumnView::Other,
                    }
                })
                .collect();
            sink.sink(&ChunkView::new(rows, &columns)).unwrap();
        }
        sink.finish().unwrap()
    }

    fn totals(state_id: &[u8]) -> RecordBatch {
        decode_batches(state_id).unwrap().remove(0)
    }

    #[test]
    fn in_place_gives_the_partial_sums_process_gives() {
        let rows = 5000i64;
        let input = RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(Int64Array::from_iter(
                    (0..rows).map(|i| (i % 7 != 0).then_some(i * 1_000_003)),
                )) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| i.to_string()),
                )),
            ),
            (
                "b",
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|i| i64::MAX - i),
                )),
            ),
            (
                "u",
                Arc::new(UInt8Array::from_iter_values(
                    (0..rows).map(|i| (i % 256) as u8),
                )),
            ),
            (
                "f",
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|i| i as f64 / 4.0),
                )),
            ),
        ])
        .unwrap();
        let by_process = SumAllColumns.process(&params(&input), &input).unwrap();
        for chunk in [1, 64, 2048, 5000] {
            assert_eq!(
                totals(&in_place(&input, chunk)),
                totals(&by_process),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn inputs_that_need_arrow_or_a_line_per_batch_get_no_sink() {
        let decimal = RecordBatch::try_from_iter([(
            "d",
            Arc::new(
                Decimal128Array::from(vec![1])
                    .with_precision_and_scale(5, 2)
                    .unwrap(),
            ) as ArrayRef,
        )])
        .unwrap();
        assert!(SumAllColumns
            .in_place_sink(&params(&decimal))
            .unwrap()
            .is_none());
        let ints =
            RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let mut logging = params(&ints);
        logging.arguments = vgi::Arguments::try_from_pairs([(
            "logging",
            Arc::new(arrow_array::BooleanArray::from(vec![true])) as ArrayRef,
        )])
        .unwrap();
        assert!(SumAllColumns.in_place_sink(&logging).unwrap().is_none());
        assert!(SumAllColumns
            .in_place_sink(&params(&ints))
            .unwrap()
            .is_some());
    }
}
