//! Arrow IPC stream encoding of record batches, as the store keeps them and
//! the protocol sends them.

mod check;
pub mod fixed_layout;

use std::io::{Cursor, Write};

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

use crate::error::{Error, Result};
use check::check_framing;

/// Encode one batch as a complete Arrow IPC stream (schema, batch, end marker).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    encode_batch_into(batch, Vec::new())
}

/// Encode one batch as a complete Arrow IPC stream into `out`.
pub fn encode_batch_into<W: Write>(batch: &RecordBatch, out: W) -> Result<W> {
    let mut writer = StreamWriter::try_new(out, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// Decode every batch of an Arrow IPC stream, validating the data.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    Ok(decode_stream(bytes)?.1)
}

/// Decode an Arrow IPC stream into its schema and batches, validating the data.
///
/// arrow-ipc panics on some malformed input (e.g. buffer ranges outside the
/// message body), so the framing is checked first (see `check`). As a
/// last resort, a panic that still escapes the decoder is turned into an
/// error; that guard needs the default `panic = "unwind"`.
pub(crate) fn decode_stream(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    rejecting_panics(|| decode_checked(bytes))
}

/// Runs a decoder; a panic that escapes it is an error (see [`decode_stream`]).
fn rejecting_panics<T>(decode: impl FnOnce() -> Result<T> + std::panic::UnwindSafe) -> Result<T> {
    std::panic::catch_unwind(decode).unwrap_or_else(|_| {
        Err(Error::Decode {
            what: "Arrow IPC stream",
            reason: "the decoder rejected the data".into(),
        })
    })
}

/// Decode every batch of the Arrow IPC stream in `buffer` without copying
/// its data: the batches' arrays are slices of `buffer` (where aligned),
/// checked like [`decode_batches`].
pub fn decode_buffer(buffer: Buffer) -> Result<Vec<RecordBatch>> {
    rejecting_panics(|| {
        check_framing(buffer.as_slice())?;
        let mut rest = buffer;
        let mut decoder = StreamDecoder::new();
        let mut batches = Vec::new();
        while !rest.is_empty() {
            if let Some(batch) = decoder.decode(&mut rest)? {
                batches.push(batch);
            }
        }
        decoder.finish()?;
        Ok(batches)
    })
}

fn decode_checked(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    check_framing(bytes)?;
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
    use arrow_array::types::{Int16Type, Int32Type, IntervalMonthDayNano};
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
        DictionaryArray, FixedSizeBinaryArray, FixedSizeListArray, Float64Array, Int32Array,
        Int8Array, IntervalMonthDayNanoArray, LargeListArray, LargeStringArray, ListArray,
        NullArray, RunArray, StringArray, StringViewArray, StructArray, TimestampMicrosecondArray,
        UInt64Array, UnionArray,
    };
    use arrow_buffer::{i256, ScalarBuffer};
    use arrow_schema::{DataType, Field, UnionFields};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn small_batch() -> RecordBatch {
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")]));
        let i: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
        RecordBatch::try_from_iter([("s", s), ("i", i)]).unwrap()
    }

    fn union(dense: bool) -> ArrayRef {
        let fields = UnionFields::try_new(
            [0, 1],
            [
                Field::new("i", DataType::Int32, true),
                Field::new("s", DataType::Utf8, true),
            ],
        )
        .unwrap();
        let type_ids = ScalarBuffer::from(vec![0i8, 1, 0]);
        let (offsets, ints, strs): (_, ArrayRef, ArrayRef) = if dense {
            (
                Some(ScalarBuffer::from(vec![0i32, 0, 1])),
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["x"])),
            )
        } else {
            (
                None,
                Arc::new(Int32Array::from(vec![Some(1), None, Some(2)])),
                Arc::new(StringArray::from(vec![None, Some("x"), None])),
            )
        };
        Arc::new(UnionArray::try_new(fields, type_ids, offsets, vec![ints, strs]).unwrap())
    }

    fn map() -> ArrayRef {
        let mut b = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        b.keys().append_value("k");
        b.values().append_value(1);
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.keys().append_value("j");
        b.values().append_null();
        b.append(true).unwrap();
        Arc::new(b.finish())
    }

    /// Three rows of many types, including nested, dictionary, union,
    /// run-end encoded and view ones.
    fn rich_batch() -> RecordBatch {
        let ints = || Int32Array::from(vec![Some(1), None, Some(3)]);
        let list = vec![Some(vec![Some(1), None]), None, Some(vec![])];
        let struct_array = StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int32, true)),
            Arc::new(ints()) as ArrayRef,
        )]);
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("null", Arc::new(NullArray::new(3))),
            (
                "i8",
                Arc::new(Int8Array::from(vec![Some(-1), None, Some(7)])),
            ),
            ("u64", Arc::new(UInt64Array::from(vec![1, u64::MAX, 0]))),
            (
                "f64",
                Arc::new(Float64Array::from(vec![0.5, f64::NAN, -1.0])),
            ),
            (
                "bool",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            (
                "utf8",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
            ),
            (
                "large",
                Arc::new(LargeStringArray::from(vec!["x", "", "yz"])),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![&b"\x00"[..], b"", b"abc"])),
            ),
            (
                "fsb",
                Arc::new(
                    FixedSizeBinaryArray::try_from_iter([b"abc", b"def", b"ghi"].into_iter())
                        .unwrap(),
                ),
            ),
            ("date", Arc::new(Date32Array::from(vec![0, 1, 19000]))),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(vec![0, -1, 1 << 40])),
            ),
            (
                "dec128",
                Arc::new(
                    Decimal128Array::from(vec![1, -2, 300])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "dec256",
                Arc::new(
                    Decimal256Array::from(vec![i256::from(1), i256::MAX, i256::from(-5)])
                        .with_precision_and_scale(76, 3)
                        .unwrap(),
                ),
            ),
            (
                "interval",
                Arc::new(IntervalMonthDayNanoArray::from(vec![
                    IntervalMonthDayNano::new(1, 2, 3),
                    IntervalMonthDayNano::new(0, 0, 0),
                    IntervalMonthDayNano::new(-1, 5, 9),
                ])),
            ),
            (
                "list",
                Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
                    list.clone(),
                )),
            ),
            (
                "llist",
                Arc::new(LargeListArray::from_iter_primitive::<Int32Type, _, _>(list)),
            ),
            (
                "fsl",
                Arc::new(FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
                    vec![
                        Some(vec![Some(1), Some(2)]),
                        None,
                        Some(vec![Some(3), None]),
                    ],
                    2,
                )),
            ),
            ("struct", Arc::new(struct_array)),
            ("map", map()),
            (
                "dict",
                Arc::new(
                    vec![Some("x"), None, Some("x")]
                        .into_iter()
                        .collect::<DictionaryArray<Int16Type>>(),
                ),
            ),
            ("sparse", union(false)),
            ("dense", union(true)),
            (
                "ree",
                Arc::new(
                    RunArray::<Int32Type>::try_new(
                        &Int32Array::from(vec![2, 3]),
                        &Int32Array::from(vec![7, 8]),
                    )
                    .unwrap(),
                ),
            ),
            (
                "view",
                Arc::new(StringViewArray::from(vec![
                    "short",
                    "a string longer than twelve",
                    "",
                ])),
            ),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn round_trip() {
        let batch = small_batch();
        let bytes = encode_batch(&batch).unwrap();
        assert_eq!(decode_batches(&bytes).unwrap(), vec![batch]);
        assert!(decode_batches(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode_batches(b"not arrow").is_err());
    }

    #[test]
    fn a_buffer_decodes_like_bytes_and_shares_its_memory() {
        let batch = small_batch();
        let bytes = encode_batch(&batch).unwrap();
        let buffer = Buffer::from(bytes.as_slice());
        let decoded = decode_buffer(buffer.clone()).unwrap();
        assert_eq!(decoded, vec![batch.clone()]);
        let values = decoded[0].column(1).to_data().buffers()[0].as_ptr();
        let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
        assert!(
            range.contains(&(values as usize)),
            "the decoded array is a copy"
        );
        assert!(decode_buffer(Buffer::from(&bytes[..bytes.len() / 2])).is_err());
        assert!(decode_buffer(Buffer::from(b"not arrow".as_slice())).is_err());
        assert_eq!(encode_batch_into(&batch, Vec::new()).unwrap(), bytes);
    }

    #[test]
    fn rich_round_trip_passes_the_framing_check() {
        let batch = rich_batch();
        let bytes = encode_batch(&batch).unwrap();
        assert_eq!(decode_checked(&bytes).unwrap().1, vec![batch.clone()]);
        let coverage = check::rule_coverage(&bytes);
        assert!(
            coverage.iter().all(|(rules, buffers)| rules == buffers),
            "{coverage:?}"
        );
        let sliced = batch.slice(1, 2);
        let bytes = encode_batch(&sliced).unwrap();
        assert_eq!(decode_checked(&bytes).unwrap().1, vec![sliced]);
    }

    fn corrupt(mut bytes: Vec<u8>, flips: Vec<(prop::sample::Index, u8)>) -> Vec<u8> {
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        bytes
    }

    proptest! {
        /// The framing check alone (no panic guard) keeps corrupted streams from panicking.
        #[test]
        fn corrupted_small_streams_do_not_panic_the_decoder(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let _ = decode_checked(&corrupt(encode_batch(&small_batch()).unwrap(), flips));
        }

        /// Same, over many column types.
        #[test]
        fn corrupted_rich_streams_do_not_panic_the_decoder(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let _ = decode_checked(&corrupt(encode_batch(&rich_batch()).unwrap(), flips));
        }
    }
}
