//! Moving Arrow schemas and record batches across the C Data Interface.

use std::sync::Arc;

use arrow_array::ffi::{from_ffi_and_data_type, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};

use crate::Result;

/// Takes ownership of the schema at `ptr` (leaving it released).
///
/// # Safety
/// `ptr` must point to a valid, unreleased Arrow C schema.
pub(crate) unsafe fn import_schema(ptr: *mut FFI_ArrowSchema) -> Result<SchemaRef> {
    // SAFETY: guaranteed by the caller.
    let ffi = unsafe { FFI_ArrowSchema::from_raw(ptr) };
    Ok(Arc::new(Schema::try_from(&ffi)?))
}

/// Takes ownership of the struct array at `ptr` as a batch of `schema`.
///
/// # Safety
/// `ptr` must point to a valid, unreleased Arrow C array of `schema`'s layout.
pub(crate) unsafe fn import_batch(
    ptr: *mut FFI_ArrowArray,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    // SAFETY: guaranteed by the caller.
    let ffi = unsafe { FFI_ArrowArray::from_raw(ptr) };
    let struct_type = DataType::Struct(schema.fields().clone());
    // SAFETY: the producer (DuckDB) exported this array for this schema.
    let data = unsafe { from_ffi_and_data_type(ffi, struct_type) }?;
    let rows = data.len();
    let array = StructArray::from(data);
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        array.columns().to_vec(),
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
