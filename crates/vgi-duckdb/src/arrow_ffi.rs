//! Moving Arrow schemas and record batches across the C Data Interface.

use std::sync::Arc;

use arrow_array::ffi::{from_ffi_and_data_type, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema, SchemaRef};

use vgi::Result;

const EXTENSION_NAME: &str = "ARROW:extension:name";
const EXTENSION_METADATA: &str = "ARROW:extension:metadata";
const BOOL8: &str = "arrow.bool8";

/// A schema as DuckDB exports it (`wire`), and as functions see it
/// (`schema`): DuckDB's lossless export writes BOOLEAN as the `arrow.bool8`
/// extension type (Int8), which functions receive as plain `Boolean`.
#[derive(Clone, Debug)]
pub(crate) struct WireSchema {
    wire: SchemaRef,
    pub(crate) schema: SchemaRef,
}

impl WireSchema {
    fn new(wire: Schema) -> Self {
        let fields: Vec<Field> = wire.fields().iter().map(|f| normalize(f)).collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, wire.metadata().clone()));
        WireSchema {
            wire: Arc::new(wire),
            schema,
        }
    }
}

/// `field` with every `arrow.bool8` (also nested) turned into `Boolean`.
fn normalize(field: &Field) -> Field {
    if field.metadata().get(EXTENSION_NAME).map(String::as_str) == Some(BOOL8) {
        let mut metadata = field.metadata().clone();
        metadata.remove(EXTENSION_NAME);
        metadata.remove(EXTENSION_METADATA);
        return Field::new(field.name(), DataType::Boolean, field.is_nullable())
            .with_metadata(metadata);
    }
    let nested = |f: &FieldRef| Arc::new(normalize(f));
    let data_type = match field.data_type() {
        DataType::List(f) => DataType::List(nested(f)),
        DataType::LargeList(f) => DataType::LargeList(nested(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(nested(f), *n),
        DataType::Map(f, sorted) => DataType::Map(nested(f), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(nested).collect()),
        other => other.clone(),
    };
    field.clone().with_data_type(data_type)
}

/// The schema of an owned C schema (released when `ffi` drops).
pub(crate) fn read_schema(ffi: FFI_ArrowSchema) -> Result<WireSchema> {
    Ok(WireSchema::new(Schema::try_from(&ffi)?))
}

/// Takes ownership of the struct array at `ptr` as a batch of `schema`.
///
/// # Safety
/// `ptr` must point to a valid, unreleased Arrow C array of `schema`'s wire layout.
pub(crate) unsafe fn import_batch(
    ptr: *mut FFI_ArrowArray,
    schema: &WireSchema,
) -> Result<RecordBatch> {
    // SAFETY: guaranteed by the caller.
    let ffi = unsafe { FFI_ArrowArray::from_raw(ptr) };
    // SAFETY: as above.
    unsafe { read_batch(ffi, schema) }
}

/// The batch of an owned C struct array (released once its buffers are no
/// longer referenced, also when this fails).
///
/// # Safety
/// `ffi` must be a valid Arrow C array of `schema`'s wire layout.
pub(crate) unsafe fn read_batch(ffi: FFI_ArrowArray, schema: &WireSchema) -> Result<RecordBatch> {
    let struct_type = DataType::Struct(schema.wire.fields().clone());
    // SAFETY: the producer (DuckDB) exported this array for this schema.
    let data = unsafe { from_ffi_and_data_type(ffi, struct_type) }?;
    let rows = data.len();
    let array = StructArray::from(data);
    let columns = array
        .columns()
        .iter()
        .zip(schema.schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                Ok(arrow_cast::cast(column, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.schema.clone(),
        columns,
        &options,
    )?)
}

/// Writes `schema` to the uninitialised C schema at `out`.
///
/// # Safety
/// `out` must be valid for writes.
pub(crate) unsafe fn export_schema(schema: &Schema, out: *mut FFI_ArrowSchema) -> Result<()> {
    let ffi = FFI_ArrowSchema::try_from(schema)?;
    // SAFETY: guaranteed by the caller; `out` holds no value to drop.
    unsafe { std::ptr::write(out, ffi) };
    Ok(())
}

/// Writes `batch` as a struct array to the uninitialised C array at `out`.
///
/// # Safety
/// `out` must be valid for writes.
pub(crate) unsafe fn export_batch(batch: RecordBatch, out: *mut FFI_ArrowArray) {
    let rows = batch.num_rows();
    let array = if batch.num_columns() == 0 {
        StructArray::new_empty_fields(rows, None)
    } else {
        StructArray::from(batch)
    };
    let ffi = FFI_ArrowArray::new(&array.to_data());
    // SAFETY: guaranteed by the caller; `out` holds no value to drop.
    unsafe { std::ptr::write(out, ffi) };
}

/// Checks that a batch a function produced has the columns it promised.
pub(crate) fn check_batch_schema(batch: &RecordBatch, expected: &Schema) -> Result<()> {
    let actual = batch.schema();
    let matches = actual.fields().len() == expected.fields().len()
        && actual
            .fields()
            .iter()
            .zip(expected.fields().iter())
            .all(|(a, e)| a.data_type() == e.data_type());
    if matches {
        Ok(())
    } else {
        Err(ArrowError::SchemaError(format!(
            "produced a batch of schema {actual} but on_bind declared {expected}"
        ))
        .into())
    }
}
