//! Building and reading the one-row records of the protocol.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{
    new_empty_array, new_null_array, Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray,
    Int16Array, Int32Array, Int64Array, ListArray, MapArray, RecordBatch, RecordBatchOptions,
    StringArray, StructArray, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::ipc::{decode_batches, encode_batch};
use crate::{Error, Result};

/// A one-row record of `schema`: fields not set take their default (NULL if
/// nullable, else false, 0, "" or an empty list or map).
#[derive(Clone)]
pub struct Row {
    schema: SchemaRef,
    values: HashMap<String, ArrayRef>,
}

impl Row {
    pub fn new(schema: SchemaRef) -> Self {
        Row {
            schema,
            values: HashMap::new(),
        }
    }

    pub fn set(mut self, name: &str, value: ArrayRef) -> Self {
        self.values.insert(name.to_string(), value);
        self
    }

    pub fn str(self, name: &str, value: &str) -> Self {
        self.set(name, Arc::new(StringArray::from(vec![value])))
    }

    pub fn opt_str(self, name: &str, value: Option<&str>) -> Self {
        self.set(name, Arc::new(StringArray::from(vec![value])))
    }

    pub fn bytes(self, name: &str, value: &[u8]) -> Self {
        self.set(name, Arc::new(BinaryArray::from(vec![value])))
    }

    pub fn opt_bytes(self, name: &str, value: Option<&[u8]>) -> Self {
        self.set(name, Arc::new(BinaryArray::from(vec![value])))
    }

    pub fn bool(self, name: &str, value: bool) -> Self {
        self.set(name, Arc::new(BooleanArray::from(vec![value])))
    }

    pub fn i64(self, name: &str, value: Option<i64>) -> Self {
        self.set(name, Arc::new(Int64Array::from(vec![value])))
    }

    /// A `dictionary<int32, binary>` value (FunctionInfo's IPC schemas).
    pub fn dict_bytes(self, name: &str, value: &[u8]) -> Self {
        let keys = arrow_array::Int32Array::from(vec![0]);
        let values = BinaryArray::from(vec![value]);
        self.set(
            name,
            Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(values))),
        )
    }

    pub fn enum_value(self, name: &str, member: &str) -> Self {
        self.set(name, enum_array(Some(member)))
    }

    pub fn strings(self, name: &str, values: &[String]) -> Self {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for v in values {
            builder.values().append_value(v);
        }
        builder.append(true);
        self.set(name, Arc::new(builder.finish()))
    }

    pub fn byte_list(self, name: &str, values: &[Vec<u8>]) -> Self {
        let offsets = OffsetBuffer::from_lengths([values.len()]);
        let items = BinaryArray::from_iter_values(values.iter());
        let field = Arc::new(Field::new("item", DataType::Binary, true));
        self.set(
            name,
            Arc::new(ListArray::new(field, offsets, Arc::new(items), None)),
        )
    }

    pub fn build(mut self) -> Result<RecordBatch> {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| match self.values.remove(field.name()) {
                Some(value) => Ok(value),
                None => default_value(field),
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(name) = self.values.keys().next() {
            return Err(Error::InvalidArgument(format!(
                "no field {name} in the record"
            )));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(1));
        Ok(RecordBatch::try_new_with_options(
            self.schema,
            columns,
            &options,
        )?)
    }

    /// The record as one IPC stream, as carried in a `binary` field.
    pub fn to_ipc(self) -> Result<Vec<u8>> {
        encode_batch(&self.build()?)
    }
}

/// One enum member, as `dictionary<int16, utf8>`.
pub fn enum_array(member: Option<&str>) -> ArrayRef {
    let keys = Int16Array::from(vec![member.map(|_| 0i16)]);
    let values = StringArray::from(vec![member.unwrap_or("")]);
    Arc::new(DictionaryArray::<Int16Type>::new(keys, Arc::new(values)))
}

fn default_value(field: &Field) -> Result<ArrayRef> {
    if field.is_nullable() {
        return Ok(new_null_array(field.data_type(), 1));
    }
    Ok(match field.data_type() {
        DataType::Boolean => Arc::new(BooleanArray::from(vec![false])),
        DataType::Int32 => Arc::new(Int32Array::from(vec![0])),
        DataType::Int64 => Arc::new(Int64Array::from(vec![0])),
        DataType::UInt64 => Arc::new(UInt64Array::from(vec![0])),
        DataType::Utf8 => Arc::new(StringArray::from(vec![""])),
        DataType::Binary => Arc::new(BinaryArray::from(vec![&b""[..]])),
        DataType::List(item) => Arc::new(ListArray::new(
            item.clone(),
            OffsetBuffer::from_lengths([0]),
            new_empty_array(item.data_type()),
            None,
        )),
        DataType::Map(entries, sorted) => {
            let DataType::Struct(fields) = entries.data_type() else {
                return Err(Error::InvalidArgument(
                    "map entries must be a struct".into(),
                ));
            };
            let columns = fields
                .iter()
                .map(|f| new_empty_array(f.data_type()))
                .collect();
            Arc::new(MapArray::try_new(
                entries.clone(),
                OffsetBuffer::from_lengths([0]),
                StructArray::new(fields.clone(), columns, None),
                None,
                *sorted,
            )?)
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "field {} ({other}) needs a value",
                field.name()
            )))
        }
    })
}

/// Reads fields of a one-row record by name.
pub struct Record<'a> {
    batch: &'a RecordBatch,
    what: &'static str,
}

impl<'a> Record<'a> {
    pub fn new(batch: &'a RecordBatch, what: &'static str) -> Result<Self> {
        if batch.num_rows() != 1 {
            return Err(Error::InvalidArgument(format!(
                "{what}: expected one row, got {}",
                batch.num_rows()
            )));
        }
        Ok(Record { batch, what })
    }

    fn column(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| Error::InvalidArgument(format!("{}: no field {name}", self.what)))
    }

    fn typed<T: Array + 'static>(&self, name: &str) -> Result<Option<&'a T>> {
        let column = self.column(name)?;
        if column.is_null(0) {
            return Ok(None);
        }
        column
            .as_any()
            .downcast_ref::<T>()
            .map(Some)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{}: field {name} has type {}",
                    self.what,
                    column.data_type()
                ))
            })
    }

    fn required<T>(&self, name: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| Error::InvalidArgument(format!("{}: {name} is NULL", self.what)))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .typed::<StringArray>(name)?
            .map(|a| a.value(0).to_string()))
    }

    pub fn str(&self, name: &str) -> Result<String> {
        let value = self.opt_str(name)?;
        self.required(name, value)
    }

    /// A `binary` field, or a dictionary-encoded one.
    pub fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let column = self.column(name)?;
        if let Some(dict) = column.as_any_dictionary_opt() {
            if column.is_null(0) {
                return Ok(None);
            }
            let values = dict.values().as_binary_opt::<i32>().ok_or_else(|| {
                Error::InvalidArgument(format!("{}: {name} is not a binary dictionary", self.what))
            })?;
            return Ok(Some(values.value(dict.normalized_keys()[0]).to_vec()));
        }
        Ok(self
            .typed::<BinaryArray>(name)?
            .map(|a| a.value(0).to_vec()))
    }

    pub fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        let value = self.opt_bytes(name)?;
        self.required(name, value)
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.typed::<Int64Array>(name)?.map(|a| a.value(0)))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        Ok(self.typed::<BooleanArray>(name)?.map(|a| a.value(0)))
    }

    /// An enum member's name.
    pub fn opt_enum(&self, name: &str) -> Result<Option<String>> {
        let column = self.column(name)?;
        if column.is_null(0) {
            return Ok(None);
        }
        let dict = column.as_any_dictionary_opt().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: field {name} is not an enum", self.what))
        })?;
        let values = dict.values().as_string_opt::<i32>().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: enum {name} has no names", self.what))
        })?;
        let key = dict.normalized_keys()[0];
        Ok(Some(values.value(key).to_string()))
    }

    pub fn opt_i64_list(&self, name: &str) -> Result<Option<Vec<i64>>> {
        let Some(list) = self.typed::<ListArray>(name)? else {
            return Ok(None);
        };
        let values = list.value(0);
        let ints = values
            .as_primitive_opt::<arrow_array::types::Int64Type>()
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{}: {name} is not a list of int64", self.what))
            })?;
        Ok(Some(ints.iter().flatten().collect()))
    }

    pub fn byte_list(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let list = self.typed::<ListArray>(name)?;
        let list = self.required(name, list)?;
        let values = list.value(0);
        let items = values.as_binary_opt::<i32>().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: {name} is not a list of binary", self.what))
        })?;
        Ok(items
            .iter()
            .map(|v| v.unwrap_or_default().to_vec())
            .collect())
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let Some(list) = self.typed::<ListArray>(name)? else {
            return Ok(Vec::new());
        };
        let values = list.value(0);
        let items = values.as_string_opt::<i32>().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: {name} is not a list of utf8", self.what))
        })?;
        Ok(items
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }
}

/// The single record in `bytes` (an IPC stream of one row).
pub fn decode_record(bytes: &[u8]) -> Result<RecordBatch> {
    let mut batches = decode_batches(bytes)?;
    if batches.len() != 1 {
        return Err(Error::InvalidArgument(format!(
            "expected one record batch, got {}",
            batches.len()
        )));
    }
    Ok(batches.remove(0))
}

/// A schema alone as an IPC stream (schema message, end marker).
pub fn schema_to_ipc(schema: &Schema) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

pub fn schema_from_ipc(bytes: &[u8]) -> Result<SchemaRef> {
    Ok(StreamReader::try_new(Cursor::new(bytes), None)?.schema())
}

/// A record of `schema` with no rows, as IPC (the destructor's answer).
pub fn no_rows_ipc(schema: SchemaRef) -> Result<Vec<u8>> {
    encode_batch(&RecordBatch::new_empty(schema))
}

/// `{result: <record IPC>}`, the answer of a method returning a record.
pub fn wrap_result(record: Vec<u8>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        super::schemas::wrapped_result(),
        vec![Arc::new(BinaryArray::from(vec![Some(record.as_slice())]))],
    )?)
}

/// `{request: <record IPC>}`, the parameters of a wrapped method.
pub fn wrap_request(record: Vec<u8>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        super::schemas::wrapped_params(),
        vec![Arc::new(BinaryArray::from(vec![record.as_slice()]))],
    )?)
}

/// The record inside a `{request}` or `{result}` batch.
pub fn unwrap(batch: &RecordBatch, field: &str) -> Result<RecordBatch> {
    let column = batch
        .column_by_name(field)
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| Error::InvalidArgument(format!("no binary field {field}")))?;
    if batch.num_rows() != 1 || column.is_null(0) {
        return Err(Error::InvalidArgument(format!(
            "{field}: expected one record"
        )));
    }
    decode_record(column.value(0))
}
