//! `buffer_input(data TABLE)`: buffers every input row in the store, then
//! returns them unchanged (same column names and types).

use std::sync::Arc;

use arrow_array::RecordBatch;

use vgi::{
    ArgSpec, BindParams, BindResponse, BufferingParams, Error, FunctionMetadata, Result,
    StoreScanProducer, TableBufferingFunction, TableProducer,
};

const ROWS: &[u8] = b"rows";

/// The setting that bounds how many finalize ids (parallel producers)
/// `buffer_input` splits its batches into.
pub const PARTITIONS_SETTING: &str = "vgi_buffer_partitions";

/// Its default: enough to keep every core of a large machine busy without
/// opening a producer per stored batch.
pub const DEFAULT_PARTITIONS: i64 = 16;

/// Splits the sorted entry ids into at most `parts` contiguous ranges, each
/// encoded as a finalize id `first || last || count` (little-endian i64s):
/// the count lets the producer notice an entry lost from the store.
fn id_ranges(mut ids: Vec<i64>, parts: usize) -> Vec<Vec<u8>> {
    ids.sort_unstable();
    let per_part = ids.len().div_ceil(parts.max(1)).max(1);
    ids.chunks(per_part)
        .map(|part| {
            let mut id = part[0].to_le_bytes().to_vec();
            id.extend_from_slice(&part[part.len() - 1].to_le_bytes());
            id.extend_from_slice(&(part.len() as i64).to_le_bytes());
            id
        })
        .collect()
}

fn decode_i64(bytes: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| {
        Error::function(format!(
            "buffer_input: malformed id of {} bytes",
            bytes.len()
        ))
    })?;
    Ok(i64::from_le_bytes(bytes))
}

/// Returns its input after buffering all of it.
pub struct BufferInput;

impl TableBufferingFunction for BufferInput {
    fn name(&self) -> &str {
        "buffer_input"
    }

    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Buffers every row of the input table in the VGI store, then returns the rows \
             unchanged (same column names and types).",
        )
        .with_example("SELECT * FROM buffer_input((SELECT * FROM range(10) t(i)))")
    }

    fn argument_specs(&self) -> Vec<ArgSpec> {
        vec![ArgSpec::table("data").with_doc("the table to buffer")]
    }

    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        Ok(BindResponse::new(params.input_schema.clone()))
    }

    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        let id = params.append_batch(ROWS, b"", batch)?;
        Ok(id.to_le_bytes().to_vec())
    }

    fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let ids = state_ids
            .iter()
            .map(|id| decode_i64(id))
            .collect::<Result<Vec<_>>>()?;
        let parts = params
            .settings
            .get_i64(PARTITIONS_SETTING)?
            .unwrap_or(DEFAULT_PARTITIONS);
        if parts < 1 {
            return Err(Error::function(format!(
                "buffer_input: {PARTITIONS_SETTING} must be at least 1, got {parts}"
            )));
        }
        Ok(id_ranges(ids, usize::try_from(parts).unwrap_or(usize::MAX)))
    }

    fn finalize_producer(
        &self,
        params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        if finalize_state_id.len() != 24 {
            return Err(Error::function("buffer_input: malformed finalize state id"));
        }
        let first = decode_i64(&finalize_state_id[..8])?;
        let last = decode_i64(&finalize_state_id[8..16])?;
        let count = usize::try_from(decode_i64(&finalize_state_id[16..])?)
            .map_err(|_| Error::function("buffer_input: malformed finalize state id"))?;
        let producer =
            StoreScanProducer::new(Arc::clone(&params.storage), &params.execution_id, ROWS, b"")
                .with_id_range(first, last)
                .expecting(count);
        Ok(Box::new(producer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use vgi::store::{new_execution_id, test_store};

    /// Runs buffer_input over `batches` with the memory tier at `budget`
    /// bytes (`None`: no tier); returns what its producers yield, in
    /// finalize id order, and checks that clearing leaves nothing.
    fn round_trip(batches: &[RecordBatch], budget: Option<usize>) -> Vec<RecordBatch> {
        let (_dir, store) = test_store();
        let exec = new_execution_id().unwrap();
        if let Some(budget) = budget {
            store.keep_in_memory(&exec, budget);
        }
        let schema = batches[0].schema();
        let mut params =
            BufferingParams::new(exec.clone(), Arc::clone(&store), schema.clone(), schema);
        params.settings.insert(PARTITIONS_SETTING, "3");
        let states: Vec<_> = batches
            .iter()
            .map(|b| BufferInput.process(&params, b).unwrap())
            .collect();
        let mut out = Vec::new();
        for id in BufferInput.combine(&params, &states).unwrap() {
            let mut producer = BufferInput.finalize_producer(&params, id).unwrap();
            out.extend(std::iter::from_fn(|| producer.next_batch().unwrap()));
        }
        assert_eq!(
            store.memory_held(),
            0,
            "every entry released as it was yielded"
        );
        store.clear(&exec).unwrap();
        assert!(std::fs::read_dir(store.root()).unwrap().next().is_none());
        out
    }

    #[test]
    fn same_rows_in_the_same_order_in_memory_spilled_or_in_files() {
        let batches: Vec<RecordBatch> = (0..10i64)
            .map(|i| {
                let rows = if i % 3 == 0 { 500 } else { 20 };
                let ints: ArrayRef =
                    Arc::new(Int64Array::from_iter_values(i * 1000..i * 1000 + rows));
                let text: ArrayRef = Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|r| format!("{i}/{r}")),
                ));
                RecordBatch::try_from_iter([("i", ints), ("s", text)]).unwrap()
            })
            .collect();
        let in_files = round_trip(&batches, None);
        assert_eq!(in_files, batches);
        let small = batches[1].get_array_memory_size();
        for budget in [0, small, 4 * small, usize::MAX] {
            assert_eq!(
                round_trip(&batches, Some(budget)),
                in_files,
                "budget {budget}"
            );
        }
    }

    fn range_of(id: &[u8]) -> (i64, i64) {
        (
            decode_i64(&id[..8]).unwrap(),
            decode_i64(&id[8..16]).unwrap(),
        )
    }

    #[test]
    fn ranges_carry_their_entry_count() {
        let ranges = id_ranges(vec![4, 1, 2, 9, 7], 2);
        let counts: Vec<_> = ranges
            .iter()
            .map(|r| decode_i64(&r[16..]).unwrap())
            .collect();
        assert_eq!(counts, vec![3, 2]);
    }

    #[test]
    fn ranges_cover_every_id_once_in_at_most_the_given_parts() {
        let ids: Vec<i64> = (0..100).rev().collect();
        let ranges: Vec<_> = id_ranges(ids, 16).iter().map(|r| range_of(r)).collect();
        assert_eq!(ranges.len(), 15);
        assert_eq!(ranges.first().unwrap().0, 0);
        assert_eq!(ranges.last().unwrap().1, 99);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
    }

    #[test]
    fn no_ids_no_ranges_and_few_ids_one_range_each() {
        assert!(id_ranges(Vec::new(), 16).is_empty());
        let ranges: Vec<_> = id_ranges(vec![7, 3], 16)
            .iter()
            .map(|r| range_of(r))
            .collect();
        assert_eq!(ranges, vec![(3, 3), (7, 7)]);
        let one: Vec<_> = id_ranges(vec![5, 1, 9], 1)
            .iter()
            .map(|r| range_of(r))
            .collect();
        assert_eq!(one, vec![(1, 9)]);
    }
}
