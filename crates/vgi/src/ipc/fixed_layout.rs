//! One batch of fixed-width number columns gathered straight into memory
//! the caller owns (a shared-memory segment) at the places an Arrow IPC
//! stream's body gives them, the stream's headers written in front of the
//! body once the batch is complete. The values are copied once, from
//! wherever they come from, instead of into a batch and then into the
//! stream.
//!
//! The region holds `[room for the headers][body][end-of-stream marker]`.
//! Each column has a validity bitmap and a values buffer sized for
//! [`FixedLayout::capacity`] rows, 64-byte aligned in the body; a batch of
//! fewer rows leaves gaps, which IPC allows (buffers are addressed by
//! offset and length). A column without NULLs declares an empty bitmap.

use arrow_ipc::writer::StreamWriter;
use arrow_ipc::{Buffer, FieldNode, MessageBuilder, MessageHeader, MetadataVersion};
use arrow_schema::{DataType, Schema};
use flatbuffers::FlatBufferBuilder;

use crate::error::{Error, Result};

/// Alignment of every buffer in the body.
const ALIGN: usize = 64;
/// The end-of-stream marker: a continuation and a zero length.
const END_OF_STREAM: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// Where one column's buffers lie in the body.
#[derive(Clone, Copy, Debug)]
struct Column {
    width: usize,
    validity: usize,
    values: usize,
}

/// The places of a batch's buffers in a region, for batches of up to
/// `capacity` rows of one schema.
#[derive(Debug)]
pub struct FixedLayout {
    capacity: usize,
    schema_message: Vec<u8>,
    columns: Vec<Column>,
    /// Offset of the body in the region.
    body_start: usize,
    body_len: usize,
}

/// A column's rows gathered so far and how many of them are NULL.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filled {
    nulls: usize,
}

/// One column of a chunk: its values' bytes and its validity words as
/// DuckDB and Arrow keep them (bit `i % 64` of word `i / 64` set for a
/// valid row; `None`: all valid).
#[derive(Clone, Copy, Debug)]
pub struct ColumnChunk<'a> {
    /// The rows' values (NULL rows' values are ignored).
    pub values: &'a [u8],
    /// The rows' validity.
    pub validity: Option<&'a [u64]>,
}

/// The part of the region that holds the complete stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRange {
    /// Where the stream starts in the region.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
}

impl FixedLayout {
    /// The layout for batches of `schema` of up to `capacity` rows; `None`
    /// when a column is not a fixed-width number (those go through Arrow).
    pub fn new(schema: &Schema, capacity: usize) -> Result<Option<FixedLayout>> {
        if capacity == 0 {
            return Err(Error::InvalidArgument(
                "a gathered batch needs room for at least one row".into(),
            ));
        }
        let mut columns = Vec::with_capacity(schema.fields().len());
        let mut at = 0usize;
        for field in schema.fields() {
            let Some(width) = number_width(field.data_type()) else {
                return Ok(None);
            };
            let validity = at;
            at = align(validity + capacity.div_ceil(64) * 8);
            let values = at;
            at = align(values + capacity * width);
            columns.push(Column {
                width,
                validity,
                values,
            });
        }
        // The writer puts the schema message out when it is made (and an
        // end marker when it is finished, which it is not).
        let writer = StreamWriter::try_new(Vec::new(), schema)?;
        let schema_message = writer.get_ref().clone();
        // The batch header: a message with one node and two buffers per
        // column, well within this bound.
        let header_room = schema_message.len() + 512 + 48 * columns.len();
        Ok(Some(FixedLayout {
            capacity,
            schema_message,
            columns,
            body_start: align(header_room),
            body_len: at,
        }))
    }

    /// Rows a batch may have.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes the region must have.
    pub fn region_len(&self) -> usize {
        self.body_start + self.body_len + END_OF_STREAM.len()
    }

    /// Copies `rows` rows of column `index` into `region` after the
    /// `at` rows it already holds.
    pub fn append(
        &self,
        region: &mut [u8],
        index: usize,
        filled: &mut Filled,
        at: usize,
        chunk: ColumnChunk<'_>,
        rows: usize,
    ) -> Result<()> {
        let ColumnChunk { values, validity } = chunk;
        let column = *self.columns.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!("no column {index} in the gathered batch"))
        })?;
        if at + rows > self.capacity
            || values.len() < rows * column.width
            || validity.is_some_and(|v| v.len() < rows.div_ceil(64))
            || region.len() < self.region_len()
        {
            return Err(Error::InvalidArgument(format!(
                "gathering {rows} rows after {at} into a batch of {} rows: too many, or \
                 too few bytes given",
                self.capacity
            )));
        }
        let body = &mut region[self.body_start..self.body_start + self.body_len];
        let start = column.values + at * column.width;
        body[start..start + rows * column.width].copy_from_slice(&values[..rows * column.width]);
        let words = &mut body[column.validity..column.values];
        filled.nulls += copy_bits(words, at, validity, rows);
        Ok(())
    }

    /// Writes the headers in front of the body and the end marker after
    /// it, for a batch of `rows` rows whose columns were filled as
    /// `filled` says; the range of the region that is the stream.
    pub fn finish(&self, region: &mut [u8], rows: usize, filled: &[Filled]) -> Result<StreamRange> {
        if filled.len() != self.columns.len() || rows > self.capacity {
            return Err(Error::InvalidArgument(format!(
                "a gathered batch of {rows} rows and {} columns for a layout of {} rows and {}",
                filled.len(),
                self.capacity,
                self.columns.len()
            )));
        }
        let message = self.batch_message(rows, filled);
        let start = self
            .body_start
            .checked_sub(message.len() + self.schema_message.len())
            .ok_or_else(|| Error::InvalidArgument("the batch header outgrew its room".into()))?;
        let end = self.body_start + self.body_len;
        region[start..start + self.schema_message.len()].copy_from_slice(&self.schema_message);
        region[self.body_start - message.len()..self.body_start].copy_from_slice(&message);
        region[end..end + END_OF_STREAM.len()].copy_from_slice(&END_OF_STREAM);
        Ok(StreamRange {
            offset: start,
            len: end + END_OF_STREAM.len() - start,
        })
    }

    /// The framed record batch message: continuation, length, flatbuffer,
    /// padding to 8 bytes.
    fn batch_message(&self, rows: usize, filled: &[Filled]) -> Vec<u8> {
        let mut nodes = Vec::with_capacity(self.columns.len());
        let mut buffers = Vec::with_capacity(2 * self.columns.len());
        for (column, filled) in self.columns.iter().zip(filled) {
            nodes.push(FieldNode::new(rows as i64, filled.nulls as i64));
            let bitmap = if filled.nulls > 0 {
                rows.div_ceil(8)
            } else {
                0
            };
            buffers.push(Buffer::new(column.validity as i64, bitmap as i64));
            buffers.push(Buffer::new(
                column.values as i64,
                (rows * column.width) as i64,
            ));
        }
        let mut fbb = FlatBufferBuilder::new();
        let nodes = fbb.create_vector(&nodes);
        let buffers = fbb.create_vector(&buffers);
        let batch = {
            let mut batch = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
            batch.add_length(rows as i64);
            batch.add_nodes(nodes);
            batch.add_buffers(buffers);
            batch.finish()
        };
        let mut message = MessageBuilder::new(&mut fbb);
        message.add_version(MetadataVersion::V5);
        message.add_header_type(MessageHeader::RecordBatch);
        message.add_bodyLength(self.body_len as i64);
        message.add_header(batch.as_union_value());
        let root = message.finish();
        fbb.finish(root, None);
        let flatbuffer = fbb.finished_data();
        let framed = (8 + flatbuffer.len()).next_multiple_of(8);
        let mut out = Vec::with_capacity(framed);
        out.extend_from_slice(&[0xFF; 4]);
        out.extend_from_slice(&((framed - 8) as i32).to_le_bytes());
        out.extend_from_slice(flatbuffer);
        out.resize(framed, 0);
        out
    }
}

/// The byte width of a column the layout takes.
fn number_width(data_type: &DataType) -> Option<usize> {
    match data_type {
        DataType::Int8 | DataType::UInt8 => Some(1),
        DataType::Int16 | DataType::UInt16 => Some(2),
        DataType::Int32 | DataType::UInt32 | DataType::Float32 => Some(4),
        DataType::Int64 | DataType::UInt64 | DataType::Float64 => Some(8),
        _ => None,
    }
}

fn align(n: usize) -> usize {
    n.next_multiple_of(ALIGN)
}

/// Writes `rows` validity bits of `src` (all set when `None`) into the
/// bitmap `dst` from bit `at` on; bits after them may change. Returns how
/// many of them are clear (NULL rows).
fn copy_bits(dst: &mut [u8], at: usize, src: Option<&[u64]>, rows: usize) -> usize {
    if at.is_multiple_of(8) {
        // Whole bytes (DuckDB's chunks of 2048 rows always start on one):
        // the words' bytes as they are, bits past `rows` included.
        let bytes = &mut dst[at / 8..at / 8 + rows.div_ceil(8)];
        let Some(src) = src else {
            bytes.fill(0xFF);
            return 0;
        };
        for (chunk, word) in bytes.chunks_mut(8).zip(src) {
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
        let full = rows / 64;
        let mut valid: usize = src[..full].iter().map(|w| w.count_ones() as usize).sum();
        if !rows.is_multiple_of(64) {
            valid += (src[full] & ((1u64 << (rows % 64)) - 1)).count_ones() as usize;
        }
        return rows - valid;
    }
    let mut nulls = 0;
    for word_index in 0..rows.div_ceil(64) {
        let count = (rows - word_index * 64).min(64);
        let mask = if count == 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        };
        let word = src.map_or(u64::MAX, |s| s[word_index]) & mask;
        nulls += count - word.count_ones() as usize;
        let bit = at + word_index * 64;
        let (byte, shift) = (bit / 8, bit % 8);
        // Up to 64 + 7 bits starting at `byte`: nine bytes, fewer at the end.
        let wide = (u128::from(word)) << shift;
        let keep_low = (1u8 << shift) - 1;
        let span = (count + shift).div_ceil(8);
        for k in 0..span {
            let b = (wide >> (8 * k)) as u8;
            dst[byte + k] = if k == 0 {
                (dst[byte] & keep_low) | b
            } else {
                b
            };
        }
    }
    nulls
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, Float64Array, Int16Array, Int64Array, RecordBatch, UInt8Array};
    use arrow_schema::Field;

    use super::*;
    use crate::ipc::decode_batches;

    /// Validity words of `valid` as DuckDB hands them over.
    fn words(valid: &[bool]) -> Vec<u64> {
        let mut out = vec![0u64; valid.len().div_ceil(64)];
        for (i, v) in valid.iter().enumerate() {
            if *v {
                out[i / 64] |= 1 << (i % 64);
            }
        }
        out
    }

    #[test]
    fn chunks_gathered_at_any_row_decode_as_the_batch_they_make() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int16, true),
            Field::new("c", DataType::Float64, true),
            Field::new("d", DataType::UInt8, false),
        ]));
        let layout = FixedLayout::new(&schema, 1000).unwrap().unwrap();
        let mut region = vec![0xAB; layout.region_len()];
        let mut filled = vec![Filled::default(); 4];
        // Chunks of odd sizes, so rows start at every bit of a byte and word.
        let sizes = [3usize, 64, 77, 1, 130, 200];
        let (mut a, mut b, mut c, mut d) = (vec![], vec![], vec![], vec![]);
        let mut at = 0;
        for (n, size) in sizes.iter().enumerate() {
            let rows: Vec<usize> = (at..at + size).collect();
            let valid_a: Vec<bool> = rows.iter().map(|r| r % 3 != 0).collect();
            let valid_c: Vec<bool> = rows.iter().map(|r| r % 7 != 1).collect();
            let va: Vec<i64> = rows.iter().map(|r| *r as i64 * -1_000_003).collect();
            let vb: Vec<i16> = rows.iter().map(|r| *r as i16).collect();
            let vc: Vec<f64> = rows.iter().map(|r| *r as f64 / 4.0).collect();
            let vd: Vec<u8> = rows.iter().map(|r| (*r % 251) as u8).collect();
            let bytes = |v: &[u8]| v.to_vec();
            let wa = words(&valid_a);
            let wc = words(&valid_c);
            // Column b alternates between no mask and an all-valid mask.
            let wb = words(&vec![true; *size]);
            let cols: [(Vec<u8>, Option<&[u64]>); 4] = [
                (
                    bytes(&va.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
                    Some(&wa),
                ),
                (
                    bytes(&vb.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
                    (n % 2 == 0).then_some(&wb[..]),
                ),
                (
                    bytes(&vc.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
                    Some(&wc),
                ),
                (vd.clone(), None),
            ];
            for (i, (values, validity)) in cols.iter().enumerate() {
                let chunk = ColumnChunk {
                    values,
                    validity: *validity,
                };
                layout
                    .append(&mut region, i, &mut filled[i], at, chunk, *size)
                    .unwrap();
            }
            a.extend(va.iter().zip(&valid_a).map(|(v, ok)| ok.then_some(*v)));
            b.extend(vb.iter().map(|v| Some(*v)));
            c.extend(vc.iter().zip(&valid_c).map(|(v, ok)| ok.then_some(*v)));
            d.extend(vd);
            at += size;
        }
        let range = layout.finish(&mut region, at, &filled).unwrap();
        let batches = decode_batches(&region[range.offset..range.offset + range.len]).unwrap();
        let expected = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(a)),
                Arc::new(Int16Array::from(b)),
                Arc::new(Float64Array::from(c)),
                Arc::new(UInt8Array::from(d)),
            ],
        )
        .unwrap();
        assert_eq!(batches, vec![expected.clone()]);
        assert_eq!(batches[0].column(1).null_count(), 0);
        assert_eq!(
            batches[0].column(0).null_count(),
            expected.column(0).null_count()
        );
    }

    #[test]
    fn other_types_are_left_to_arrow_and_overfull_chunks_are_refused() {
        let strings = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
        assert!(FixedLayout::new(&strings, 10).unwrap().is_none());
        let schema = Schema::new(vec![Field::new("a", DataType::Int32, true)]);
        let layout = FixedLayout::new(&schema, 4).unwrap().unwrap();
        let mut region = vec![0; layout.region_len()];
        let mut filled = Filled::default();
        let values = [0u8; 20];
        let chunk = ColumnChunk {
            values: &values,
            validity: None,
        };
        let err = layout
            .append(&mut region, 0, &mut filled, 2, chunk, 3)
            .unwrap_err();
        assert!(err.to_string().contains("3 rows after 2"), "{err}");
        layout
            .append(&mut region, 0, &mut filled, 0, chunk, 0)
            .unwrap();
        let range = layout.finish(&mut region, 0, &[filled]).unwrap();
        let batches = decode_batches(&region[range.offset..range.offset + range.len]).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].num_rows(), 0);
    }
}
