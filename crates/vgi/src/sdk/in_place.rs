//! Reading DuckDB's input where DuckDB keeps it: a function that only
//! folds its input (a sum, a count, a sketch) can skip the copy into Arrow
//! batches. In DuckDB's process, each sinking thread hands every chunk of
//! its input to one [`InPlaceSink`] as a [`ChunkView`] that borrows
//! DuckDB's vectors for that call only, and the sink's
//! [`finish`](InPlaceSink::finish) gives the thread's state id, which
//! `combine` receives like those of `process`. In worker processes, and
//! for functions that return no sink, `process` gets Arrow batches as
//! always, so a function with a sink keeps a `process` that agrees with it.

use crate::Result;

/// The values of one fixed-width column of a chunk, with DuckDB's validity
/// mask (bit `i % 64` of word `i / 64` set: row `i` is not NULL; Arrow's
/// bit order). The value at a NULL row is unspecified.
#[derive(Clone, Copy, Debug)]
pub struct Values<'a, T> {
    values: &'a [T],
    validity: Option<&'a [u64]>,
}

impl<'a, T: Copy> Values<'a, T> {
    /// Values and validity of `values.len()` rows; `validity`, when there is
    /// one, holds at least a bit per row.
    pub fn new(values: &'a [T], validity: Option<&'a [u64]>) -> Self {
        if let Some(words) = validity {
            assert!(words.len() * 64 >= values.len(), "a validity bit per row");
        }
        Values { values, validity }
    }

    /// Every row's value, NULL rows included (their value is unspecified).
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// Whether no row is NULL. (False may still mean no NULL: DuckDB keeps a
    /// mask once any row of the vector was NULL.)
    pub fn all_valid(&self) -> bool {
        self.validity.is_none()
    }

    /// Whether row `row` is not NULL.
    pub fn is_valid(&self, row: usize) -> bool {
        self.validity
            .is_none_or(|words| words[row / 64] >> (row % 64) & 1 == 1)
    }

    /// The rows in order, `None` for NULL.
    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + 'a {
        let Values { values, validity } = *self;
        values.iter().enumerate().map(move |(row, v)| {
            validity
                .is_none_or(|words| words[row / 64] >> (row % 64) & 1 == 1)
                .then_some(*v)
        })
    }
}

/// One input column of a chunk, by its Arrow type (the input schema's).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ColumnView<'a> {
    Int8(Values<'a, i8>),
    Int16(Values<'a, i16>),
    Int32(Values<'a, i32>),
    Int64(Values<'a, i64>),
    UInt8(Values<'a, u8>),
    UInt16(Values<'a, u16>),
    UInt32(Values<'a, u32>),
    UInt64(Values<'a, u64>),
    Float32(Values<'a, f32>),
    Float64(Values<'a, f64>),
    /// A column of another type: not readable in place (a function whose
    /// input has one should return no sink).
    Other,
}

/// One chunk of a thread's input, borrowed from DuckDB for one
/// [`InPlaceSink::sink`] call; its columns are the input schema's.
#[derive(Clone, Copy, Debug)]
pub struct ChunkView<'a> {
    rows: usize,
    columns: &'a [ColumnView<'a>],
}

impl<'a> ChunkView<'a> {
    /// A chunk of `rows` rows; every column holds `rows` values.
    pub fn new(rows: usize, columns: &'a [ColumnView<'a>]) -> Self {
        ChunkView { rows, columns }
    }

    /// How many rows the chunk has.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The columns, in the input schema's order.
    pub fn columns(&self) -> &'a [ColumnView<'a>] {
        self.columns
    }
}

/// A sinking thread's fold of the chunks it reads in place (see the module).
pub trait InPlaceSink: Send {
    /// Folds one chunk in; the chunk is gone when this returns.
    fn sink(&mut self, chunk: &ChunkView<'_>) -> Result<()>;
    /// The state id of every row sunk, for `combine`.
    fn finish(self: Box<Self>) -> Result<Vec<u8>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_bits_are_read_in_arrow_order() {
        let values = [1i64, 2, 3, 4];
        let mask = [0b1101u64];
        let column = Values::new(&values, Some(&mask));
        assert!(!column.all_valid());
        assert_eq!(
            column.iter().collect::<Vec<_>>(),
            [Some(1), None, Some(3), Some(4)]
        );
        assert!(column.is_valid(0) && !column.is_valid(1));
        let all = Values::new(&values, None);
        assert!(all.all_valid() && all.iter().all(|v| v.is_some()));
    }

    #[test]
    #[should_panic(expected = "a validity bit per row")]
    fn a_mask_shorter_than_the_rows_is_refused() {
        let values = [0u8; 65];
        Values::new(&values, Some(&[u64::MAX]));
    }
}
