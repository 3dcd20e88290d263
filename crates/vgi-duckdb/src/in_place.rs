//! The bridge's side of in-place sinking (`vgi::sdk::in_place`): the
//! columns C++ hands over for one chunk, read as [`ColumnView`]s that
//! borrow DuckDB's vectors for that call, and the sink of one thread.

use std::ffi::c_void;

use arrow_schema::{DataType, Schema};

use vgi::ipc::fixed_layout::ColumnChunk;
use vgi::{ChunkView, ColumnView, Error, InPlaceSink, Result, Values};

/// Mirrors `VgiColumn` in `cpp/vgi_ffi.h`.
#[repr(C)]
pub(crate) struct VgiColumn {
    data: *const c_void,
    validity: *const u64,
    width: u64,
}

/// One sinking thread's in-place sink and the rows it took.
pub(crate) struct InPlace {
    kind: Kind,
    rows: u64,
}

enum Kind {
    /// The function's own sink (in this process).
    Function(Box<dyn InPlaceSink>),
    /// Batches gathered for a worker (subprocess execution).
    #[cfg_attr(not(feature = "subprocess"), allow(dead_code))]
    Batches(Box<dyn BatchSink>),
}

/// A sink that gathers the chunks' columns into batches and sends each to
/// a worker as it fills (see `subprocess::gather`).
pub(crate) trait BatchSink: Send {
    /// Gathers one chunk of `rows` rows.
    fn append(&mut self, columns: &[ColumnChunk<'_>], rows: usize) -> Result<()>;
    /// The batches sent since the last time they were taken.
    fn take_sent(&mut self) -> Vec<Sent>;
    /// Sends what is left; the batches not taken yet.
    fn finish(self: Box<Self>) -> Result<Vec<Sent>>;
}

/// One batch a [`BatchSink`] sent: its state id, rows and worker's label.
pub(crate) struct Sent {
    pub(crate) state_id: Vec<u8>,
    pub(crate) rows: usize,
    pub(crate) worker: String,
}

/// What an in-place sink leaves to record when it ends.
pub(crate) enum Finished {
    /// The function's sink: one state id for every row.
    StateId(Vec<u8>),
    /// A batch sink: the batches it sent last.
    Sent(Vec<Sent>),
}

impl InPlace {
    pub(crate) fn new(sink: Box<dyn InPlaceSink>) -> Self {
        InPlace {
            kind: Kind::Function(sink),
            rows: 0,
        }
    }

    /// A thread's sink of batches for a worker.
    #[cfg_attr(not(feature = "subprocess"), allow(dead_code))]
    pub(crate) fn batches(sink: Box<dyn BatchSink>) -> Self {
        InPlace {
            kind: Kind::Batches(sink),
            rows: 0,
        }
    }

    /// Rows sunk so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Sinks one chunk of `rows` rows of `schema` (the input's).
    ///
    /// # Safety
    /// Each column's `data` (when not null) points to `rows` values of
    /// `width` bytes, and its `validity` (when not null) to `rows.div_ceil(64)`
    /// words, all unchanged until this returns.
    pub(crate) unsafe fn sink(
        &mut self,
        schema: &Schema,
        columns: &[VgiColumn],
        rows: usize,
    ) -> Result<()> {
        if columns.len() != schema.fields().len() {
            return Err(Error::function(format!(
                "in-place sink: a chunk of {} columns for an input of {}",
                columns.len(),
                schema.fields().len()
            )));
        }
        match &mut self.kind {
            Kind::Function(sink) => {
                let views = schema
                    .fields()
                    .iter()
                    .zip(columns)
                    // SAFETY: as this function's contract.
                    .map(|(field, column)| unsafe { view(field.data_type(), column, rows) })
                    .collect::<Result<Vec<_>>>()?;
                sink.sink(&ChunkView::new(rows, &views))?;
            }
            Kind::Batches(sink) => {
                let chunk = schema
                    .fields()
                    .iter()
                    .zip(columns)
                    // SAFETY: as this function's contract.
                    .map(|(field, column)| unsafe { chunk_column(field.data_type(), column, rows) })
                    .collect::<Result<Vec<_>>>()?;
                sink.append(&chunk, rows)?;
            }
        }
        self.rows += rows as u64;
        Ok(())
    }

    /// The batches a batch sink sent since the last time they were taken.
    pub(crate) fn take_sent(&mut self) -> Vec<Sent> {
        match &mut self.kind {
            Kind::Function(_) => Vec::new(),
            Kind::Batches(sink) => sink.take_sent(),
        }
    }

    /// Ends the sink.
    pub(crate) fn finish(self) -> Result<Finished> {
        match self.kind {
            Kind::Function(sink) => sink.finish().map(Finished::StateId),
            Kind::Batches(sink) => sink.finish().map(Finished::Sent),
        }
    }
}

/// `column` as a [`BatchSink`] takes it: its values' bytes, checked to be
/// `data_type`'s width.
///
/// # Safety
/// As [`InPlace::sink`].
unsafe fn chunk_column<'a>(
    data_type: &DataType,
    column: &'a VgiColumn,
    rows: usize,
) -> Result<ColumnChunk<'a>> {
    let width = data_type.primitive_width().unwrap_or(0);
    if column.data.is_null() || column.width != width as u64 || width == 0 {
        return Err(Error::function(format!(
            "in-place sink: a column of {data_type} came as {} bytes per value{}",
            column.width,
            if column.data.is_null() {
                " without data"
            } else {
                ""
            }
        )));
    }
    if !column.validity.is_null() && column.validity.align_offset(8) != 0 {
        return Err(Error::function(
            "in-place sink: a column's validity is not aligned",
        ));
    }
    // SAFETY: checked non-null; the caller vouches for `rows` values of
    // `width` bytes and `rows.div_ceil(64)` aligned words, unchanged for 'a.
    let values = unsafe { std::slice::from_raw_parts(column.data.cast::<u8>(), rows * width) };
    let validity = (!column.validity.is_null())
        .then(|| unsafe { std::slice::from_raw_parts(column.validity, rows.div_ceil(64)) });
    Ok(ColumnChunk { values, validity })
}

/// `column` as a view of `data_type`, or [`ColumnView::Other`] for a type
/// that is not read in place.
///
/// # Safety
/// As [`InPlace::sink`].
unsafe fn view<'a>(
    data_type: &DataType,
    column: &'a VgiColumn,
    rows: usize,
) -> Result<ColumnView<'a>> {
    /// The column's values as `T`, after checking width and alignment.
    unsafe fn values<'a, T: Copy>(column: &'a VgiColumn, rows: usize) -> Result<Values<'a, T>> {
        let width = std::mem::size_of::<T>();
        if column.data.is_null() || column.width != width as u64 {
            return Err(Error::function(format!(
                "in-place sink: a column of {width}-byte values came as {} bytes per value{}",
                column.width,
                if column.data.is_null() {
                    " without data"
                } else {
                    ""
                }
            )));
        }
        if column.data.align_offset(std::mem::align_of::<T>()) != 0
            || (!column.validity.is_null() && column.validity.align_offset(8) != 0)
        {
            return Err(Error::function(
                "in-place sink: a column's memory is not aligned",
            ));
        }
        // SAFETY: checked non-null and aligned; the caller vouches for the
        // length and that the memory stays as it is for 'a.
        let data = unsafe { std::slice::from_raw_parts(column.data.cast::<T>(), rows) };
        let validity = (!column.validity.is_null())
            // SAFETY: as above, `rows.div_ceil(64)` words.
            .then(|| unsafe { std::slice::from_raw_parts(column.validity, rows.div_ceil(64)) });
        Ok(Values::new(data, validity))
    }
    // SAFETY (each arm): as this function's contract.
    Ok(unsafe {
        match data_type {
            DataType::Int8 => ColumnView::Int8(values(column, rows)?),
            DataType::Int16 => ColumnView::Int16(values(column, rows)?),
            DataType::Int32 => ColumnView::Int32(values(column, rows)?),
            DataType::Int64 => ColumnView::Int64(values(column, rows)?),
            DataType::UInt8 => ColumnView::UInt8(values(column, rows)?),
            DataType::UInt16 => ColumnView::UInt16(values(column, rows)?),
            DataType::UInt32 => ColumnView::UInt32(values(column, rows)?),
            DataType::UInt64 => ColumnView::UInt64(values(column, rows)?),
            DataType::Float32 => ColumnView::Float32(values(column, rows)?),
            DataType::Float64 => ColumnView::Float64(values(column, rows)?),
            _ => ColumnView::Other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use std::sync::{Arc, Mutex};

    /// One chunk as the recorder saw it: each column's values, `None` for NULL.
    type Seen = Vec<Vec<Option<i64>>>;

    /// Records the chunks it sees.
    struct Recorder(Arc<Mutex<Vec<Seen>>>);

    impl InPlaceSink for Recorder {
        fn sink(&mut self, chunk: &ChunkView<'_>) -> Result<()> {
            let columns = chunk
                .columns()
                .iter()
                .map(|c| match c {
                    ColumnView::Int64(v) => v.iter().collect(),
                    ColumnView::Int32(v) => v.iter().map(|v| v.map(i64::from)).collect(),
                    _ => Vec::new(),
                })
                .collect();
            self.0.lock().unwrap().push(columns);
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<Vec<u8>> {
            Ok(b"done".to_vec())
        }
    }

    fn column<T>(values: &[T], validity: Option<&[u64]>, width: u64) -> VgiColumn {
        VgiColumn {
            data: values.as_ptr().cast(),
            validity: validity.map_or(std::ptr::null(), <[u64]>::as_ptr),
            width,
        }
    }

    #[test]
    fn columns_are_read_by_the_input_schema_with_their_nulls() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Int32, true),
        ]);
        let seen = Arc::default();
        let mut sink = InPlace::new(Box::new(Recorder(Arc::clone(&seen))));
        let (a, b, mask) = ([1i64, 2, 3], [7i32, 8, 9], [0b101u64]);
        let none = VgiColumn {
            data: std::ptr::null(),
            validity: std::ptr::null(),
            width: 0,
        };
        let columns = [column(&a, None, 8), none, column(&b, Some(&mask), 4)];
        // SAFETY: the arrays outlive the call and hold 3 rows.
        unsafe { sink.sink(&schema, &columns, 3) }.unwrap();
        assert_eq!(sink.rows(), 3);
        assert_eq!(
            seen.lock().unwrap()[0],
            [
                vec![Some(1), Some(2), Some(3)],
                vec![],
                vec![Some(7), None, Some(9)]
            ]
        );
        assert!(matches!(sink.finish().unwrap(), Finished::StateId(id) if id == b"done"));
    }

    #[test]
    fn a_column_of_another_width_or_without_data_is_an_error() {
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let mut sink = InPlace::new(Box::new(Recorder(Arc::default())));
        let narrow = [1i32, 2];
        // SAFETY: 2 rows of 4 bytes; the sink refuses them before reading.
        let err = unsafe { sink.sink(&schema, &[column(&narrow, None, 4)], 2) }.unwrap_err();
        assert!(err.to_string().contains("8-byte values came as 4"), "{err}");
        let none = VgiColumn {
            data: std::ptr::null(),
            validity: std::ptr::null(),
            width: 8,
        };
        // SAFETY: nothing is read.
        let err = unsafe { sink.sink(&schema, &[none], 2) }.unwrap_err();
        assert!(err.to_string().contains("without data"), "{err}");
        // SAFETY: nothing is read.
        let err = unsafe { sink.sink(&schema, &[], 2) }.unwrap_err();
        assert!(
            err.to_string()
                .contains("a chunk of 0 columns for an input of 1"),
            "{err}"
        );
    }
}
