//! `topk`: an example DuckDB extension written with the `vgi` SDK.
//!
//! It registers one table buffering function,
//!
//! ```sql
//! top_k(data TABLE, k BIGINT, by := VARCHAR, group_by := VARCHAR)
//! ```
//!
//! which returns, for each distinct value of the `group_by` column (or for
//! the whole input when it is not given), the `k` rows with the largest value
//! of the numeric `by` column, with every input column, ordered by group
//! (ascending, NULL group last) and then by `by` descending.
//!
//! * `by` may be any integer (HUGEINT too), floating-point or DECIMAL column.
//!   Rows whose `by` value is NULL are skipped. NaN ranks above every number
//!   (as in DuckDB's `ORDER BY ... DESC`).
//! * Ties are broken by the other columns in ascending order (NULLs last,
//!   strings by their bytes), so the result does not depend on the order in
//!   which DuckDB's threads deliver the input.
//!
//! How it buffers (see the SDK's [`vgi::TableBufferingFunction`]):
//!
//! * `process` keeps only the top `k` rows per group of its batch (a bounded
//!   heap per group) and appends them to the store;
//! * `combine` merges those partial tops into the final top `k` per group and
//!   appends that result to the store;
//! * `finalize_producer` streams the result back.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Decimal128Array, RecordBatch, UInt64Array};
use arrow_row::{Row, RowConverter, Rows, SortField};
use arrow_schema::{DataType, Field, Schema, SortOptions};
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use vgi::{
    ArgSpec, Arguments, BindParams, BindResponse, BufferingParams, Constraints, Error,
    FunctionMetadata, Result, TableBufferingFunction, TableProducer,
};

/// Store namespace of the per-batch partial tops written by `process`.
const PARTIALS: &[u8] = b"partials";
/// Store namespace (and the one finalize state id) of the combined result.
const RESULT: &[u8] = b"result";
/// `combine` merges partial tops once this many rows are pending (or as many
/// as the current result holds, whichever is more), so that merging costs
/// O(n log n) in the rows kept and never holds every partial at once.
const MERGE_ROWS: usize = 64 * 1024;

/// The `top_k` table buffering function.
pub struct TopK;

/// The columns a call works on, resolved against the input schema.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    /// How many rows to keep per group.
    k: usize,
    /// Index of the numeric column to rank by.
    by: usize,
    /// Index of the column to group by, if any.
    group_by: Option<usize>,
    /// Indices of the columns that break ties: every other column, in order
    /// (those of a type the row format cannot compare are left out).
    ties: Vec<usize>,
}

/// Finds the column `name` for argument `arg`: an exact match, else the only
/// case-insensitive one (DuckDB resolves identifiers case-insensitively).
fn find_column(schema: &Schema, arg: &str, name: &str) -> Result<usize> {
    if let Some(index) = schema.fields().iter().position(|f| f.name() == name) {
        return Ok(index);
    }
    let folded: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name().eq_ignore_ascii_case(name))
        .collect();
    match folded[..] {
        [index] => Ok(index),
        _ => {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Err(Error::function(format!(
                "argument '{arg}': the input has no column named '{name}' (its columns: {})",
                columns.join(", ")
            )))
        }
    }
}

/// The DuckDB type DuckDB's lossless Arrow export wrapped in an
/// `arrow.opaque` extension type (e.g. `hugeint`), if any.
fn opaque_type_name(field: &Field) -> Option<String> {
    if extension_name(field)? != "arrow.opaque" {
        return None;
    }
    let json: String = field
        .metadata()
        .get("ARROW:extension:metadata")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let rest = &json[json.find("\"type_name\":\"")? + "\"type_name\":\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// DuckDB's HUGEINT (signed) and UHUGEINT (unsigned) reach Arrow as 16-byte
/// little-endian `arrow.opaque` values; `Some(signed)` for those.
fn wide_integer(field: &Field) -> Option<bool> {
    if field.data_type() != &DataType::FixedSizeBinary(16) {
        return None;
    }
    match opaque_type_name(field)?.as_str() {
        "hugeint" => Some(true),
        "uhugeint" => Some(false),
        _ => None,
    }
}

/// The Arrow extension type of a column, if any (DuckDB's lossless export
/// sends BOOLEAN as `arrow.bool8`, stored as Int8, and UUID as `arrow.uuid`).
fn extension_name(field: &Field) -> Option<&str> {
    field
        .metadata()
        .get("ARROW:extension:name")
        .map(String::as_str)
}

/// Whether `by` can name this column: integers, floats, decimals, HUGEINT
/// and UHUGEINT; not an extension type stored as a number (BOOLEAN).
fn is_numeric(field: &Field) -> bool {
    match extension_name(field) {
        None => field.data_type().is_numeric(),
        Some(_) => wide_integer(field).is_some(),
    }
}

/// The type of [`comparable`]'s result for a column of `field`.
fn comparable_type(field: &Field) -> DataType {
    match wide_integer(field) {
        Some(_) => DataType::Decimal128(38, 0),
        None => field.data_type().clone(),
    }
}

/// The column as an array whose Arrow order is its SQL order: HUGEINT and
/// UHUGEINT become 128-bit integers (UHUGEINT shifted by 2^127, which keeps
/// the order); every other column is used as it is.
fn comparable(field: &Field, column: &ArrayRef) -> Result<ArrayRef> {
    let Some(signed) = wide_integer(field) else {
        return Ok(column.clone());
    };
    let bytes = column.as_fixed_size_binary();
    let values: Vec<i128> = (0..bytes.len())
        .map(|i| {
            let mut le = [0u8; 16];
            le.copy_from_slice(bytes.value(i));
            let value = i128::from_le_bytes(le);
            if signed {
                value
            } else {
                value ^ i128::MIN
            }
        })
        .collect();
    let array = Decimal128Array::new(values.into(), bytes.nulls().cloned())
        .with_precision_and_scale(38, 0)?;
    Ok(Arc::new(array))
}

/// Whether the row format can compare values of this column.
fn orderable(field: &Field) -> bool {
    RowConverter::supports_fields(&[SortField::new(comparable_type(field))])
}

/// The DuckDB name of the types an input column commonly has, for messages.
fn sql_type_name(field: &Field) -> String {
    if let Some(name) = opaque_type_name(field) {
        return name.to_uppercase();
    }
    match extension_name(field) {
        Some("arrow.bool8") => return "BOOLEAN".into(),
        Some("arrow.uuid") => return "UUID".into(),
        Some("arrow.json") => return "JSON".into(),
        Some(other) => return format!("of Arrow extension type {other}"),
        None => {}
    }
    match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BLOB".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Interval(_) => "INTERVAL".into(),
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => "a LIST".into(),
        DataType::FixedSizeList(_, _) => "an ARRAY".into(),
        DataType::Struct(_) => "a STRUCT".into(),
        DataType::Map(_, _) => "a MAP".into(),
        other => format!("of Arrow type {other}"),
    }
}

impl Plan {
    /// Validates the arguments against the input schema. `k >= 1` is checked
    /// by the SDK from the `k` parameter's [`Constraints`] before this runs.
    fn new(schema: &Schema, arguments: &Arguments) -> Result<Self> {
        let k = arguments.get_i64("k")?.ok_or_else(|| {
            Error::function("argument 'k' is required: how many rows to keep per group")
        })?;
        let k = usize::try_from(k)
            .map_err(|_| Error::function(format!("argument 'k' must be >= 1, got {k}")))?;
        let by_name = arguments.get_str("by")?.ok_or_else(|| {
            Error::function(
                "argument 'by' is required: name the numeric column to rank rows by, \
                 e.g. by := 'score'",
            )
        })?;
        let by = find_column(schema, "by", &by_name)?;
        let by_field = schema.field(by);
        if !is_numeric(by_field) {
            return Err(Error::function(format!(
                "argument 'by': column '{}' is {}, not a number (an integer, floating-point or \
                 DECIMAL column)",
                by_field.name(),
                sql_type_name(by_field)
            )));
        }
        let group_by = match arguments.get_str("group_by")? {
            Some(name) => {
                let index = find_column(schema, "group_by", &name)?;
                let field = schema.field(index);
                if !orderable(field) {
                    return Err(Error::function(format!(
                        "argument 'group_by': column '{}' is {}, which cannot be grouped",
                        field.name(),
                        sql_type_name(field)
                    )));
                }
                Some(index)
            }
            None => None,
        };
        let ties = (0..schema.fields().len())
            .filter(|&i| i != by && Some(i) != group_by && orderable(schema.field(i)))
            .collect();
        Ok(Plan {
            k,
            by,
            group_by,
            ties,
        })
    }

    /// The top `k` rows per group of `batch`, sorted by group, then rank.
    fn select(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let sort_field = |i: usize, options: SortOptions| {
            SortField::new_with_options(comparable_type(schema.field(i)), options)
        };
        let column = |i: usize| comparable(schema.field(i), batch.column(i));
        let ascending = SortOptions::default().asc().nulls_last();

        // The group key: ascending, NULL last.
        let group_rows: Option<Rows> = match self.group_by {
            Some(g) => {
                let converter = RowConverter::new(vec![sort_field(g, ascending)])?;
                Some(converter.convert_columns(&[column(g)?])?)
            }
            None => None,
        };
        // The rank: `by` descending, then the tie columns ascending (NULLs
        // last). A smaller rank is a better row.
        let mut fields = vec![sort_field(
            self.by,
            SortOptions::default().desc().nulls_last(),
        )];
        let mut columns = vec![column(self.by)?];
        for &i in &self.ties {
            fields.push(sort_field(i, ascending));
            columns.push(column(i)?);
        }
        let rank_rows = RowConverter::new(fields)?.convert_columns(&columns)?;
        let by = batch.column(self.by);

        // One bounded max-heap per group: its top is the worst row kept.
        let mut groups: BTreeMap<Option<Row<'_>>, BinaryHeap<Ranked<'_>>> = BTreeMap::new();
        for index in 0..batch.num_rows() {
            if by.is_null(index) {
                continue;
            }
            let group = group_rows.as_ref().map(|rows| rows.row(index));
            let candidate = Ranked {
                rank: rank_rows.row(index),
                index,
            };
            let heap = groups.entry(group).or_default();
            if heap.len() < self.k {
                heap.push(candidate);
            } else if heap.peek().is_some_and(|worst| candidate < *worst) {
                heap.pop();
                heap.push(candidate);
            }
        }
        let indices: Vec<u64> = groups
            .into_values()
            .flat_map(|heap| heap.into_sorted_vec())
            .map(|ranked| ranked.index as u64)
            .collect();
        Ok(take_record_batch(batch, &UInt64Array::from(indices))?)
    }
}

/// A row of a batch with its rank; ordered by rank, then position (so that
/// rows of equal rank keep the first one seen).
#[derive(PartialEq, Eq)]
struct Ranked<'a> {
    rank: Row<'a>,
    index: usize,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl TableBufferingFunction for TopK {
    fn name(&self) -> &str {
        "top_k"
    }

    fn metadata(&self) -> FunctionMetadata {
        FunctionMetadata::new(
            "Returns the k rows with the largest value of the numeric column `by`, for each \
             distinct value of the column `group_by` (or for the whole input), with every input \
             column, ordered by group and then by `by` descending. Rows whose `by` is NULL are \
             skipped; ties are broken by the other columns in ascending order.",
        )
        .with_example("SELECT * FROM top_k((FROM scores), 3, by := 'points', group_by := 'team')")
        // One producer emits the result in order; DuckDB must keep that order.
        .with_source_order_dependent(true)
    }

    fn argument_specs(&self) -> Vec<ArgSpec> {
        vec![
            ArgSpec::table("data").with_doc("the rows to rank"),
            ArgSpec::positional("k", DataType::Int64)
                .with_doc("how many rows to keep per group")
                .with_constraints(Constraints::default().with_ge(1.0)),
            ArgSpec::named("by", DataType::Utf8)
                .with_doc("the numeric column to rank by, largest first (required)"),
            ArgSpec::named("group_by", DataType::Utf8)
                .with_doc("the column whose distinct values form the groups (default: one group)"),
        ]
    }

    fn on_bind(&self, params: &BindParams) -> Result<BindResponse> {
        Plan::new(&params.input_schema, &params.arguments)?;
        // Every input column comes out unchanged.
        Ok(BindResponse::new(params.input_schema.clone()))
    }

    fn process(&self, params: &BufferingParams, batch: &RecordBatch) -> Result<Vec<u8>> {
        let plan = Plan::new(&params.input_schema, &params.arguments)?;
        let top = plan.select(batch)?;
        if top.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let id = params.append_batch(PARTIALS, b"", &top)?;
        Ok(id.to_le_bytes().to_vec())
    }

    fn combine(&self, params: &BufferingParams, state_ids: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if state_ids.iter().all(Vec::is_empty) {
            return Ok(Vec::new()); // no input row had a `by` value
        }
        let plan = Plan::new(&params.input_schema, &params.arguments)?;
        let schema = params.output_schema.clone();
        let mut best: Option<RecordBatch> = None;
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0;
        let mut partials = params.batch_producer(PARTIALS, b"");
        loop {
            let next = partials.next_batch()?;
            let done = next.is_none();
            if let Some(partial) = next {
                pending_rows += partial.num_rows();
                pending.push(partial);
            }
            let kept = best.as_ref().map_or(0, RecordBatch::num_rows);
            if pending_rows >= MERGE_ROWS.max(kept) || (done && !pending.is_empty()) {
                let merged = concat_batches(&schema, best.iter().chain(&pending))?;
                best = Some(plan.select(&merged)?);
                pending.clear();
                pending_rows = 0;
            }
            if done {
                break;
            }
        }
        match best {
            Some(result) if result.num_rows() > 0 => {
                params.append_batch(RESULT, b"", &result)?;
                Ok(vec![RESULT.to_vec()])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn finalize_producer(
        &self,
        params: &BufferingParams,
        finalize_state_id: Vec<u8>,
    ) -> Result<Box<dyn TableProducer>> {
        if finalize_state_id != RESULT {
            return Err(Error::function("unknown finalize state id"));
        }
        Ok(params.batch_producer(RESULT, b""))
    }
}

#[cfg(test)]
mod tests;

// Defines `topk_duckdb_cpp_init`, the entry point DuckDB calls on
// `LOAD 'topk.duckdb_extension'`.
#[rustfmt::skip]
vgi_duckdb::export_extension!(topk, vec![Box::new(TopK) as Box<dyn vgi::TableBufferingFunction>]);
