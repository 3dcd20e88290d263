//! How the worker describes its catalog: one catalog, `vgi`, with one
//! schema, `main`, holding every buffering function as a `TABLE_BUFFERING`
//! function.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};

use crate::protocol::rows::{schema_to_ipc, Row};
use crate::protocol::schemas;
use crate::protocol::{CATALOG_NAME, SCHEMA_NAME};
use crate::{ArgType, Result, TableBufferingFunction};

/// The `arguments` schema VGI clients read: positional parameters first (the
/// TABLE one as a null-typed field marked `vgi_type: table`), then named ones
/// marked `vgi_arg: named`.
fn arguments_schema(function: &dyn TableBufferingFunction) -> Schema {
    let mut specs = function.argument_specs();
    specs.sort_by_key(|s| s.named);
    let fields: Vec<Field> = specs
        .iter()
        .map(|spec| {
            let mut metadata = HashMap::new();
            if !spec.doc.is_empty() {
                metadata.insert("vgi_doc".to_string(), spec.doc.clone());
            }
            if spec.named {
                metadata.insert("vgi_arg".to_string(), "named".to_string());
            }
            if spec.varargs {
                metadata.insert("vgi_varargs".to_string(), "true".to_string());
            }
            let data_type = match &spec.data_type {
                ArgType::Table => {
                    metadata.insert("vgi_type".to_string(), "table".to_string());
                    DataType::Null
                }
                ArgType::Value(t) => t.clone(),
            };
            Field::new(&spec.name, data_type, true).with_metadata(metadata)
        })
        .collect();
    Schema::new(fields)
}

/// The FunctionInfo record of `function`.
pub(crate) fn function_info(function: &dyn TableBufferingFunction) -> Result<Vec<u8>> {
    let meta = function.metadata();
    Row::new(schemas::function_info())
        .str("name", function.name())
        .strings("schema_path", &[SCHEMA_NAME.to_string()])
        .enum_value("function_type", "TABLE_BUFFERING")
        .dict_bytes("arguments", &schema_to_ipc(&arguments_schema(function))?)
        .dict_bytes("output_schema", &schema_to_ipc(&Schema::empty())?)
        .str("description", &meta.description)
        .strings("categories", &[])
        .set(
            "projection_pushdown",
            Arc::new(arrow_array::BooleanArray::from(vec![
                meta.projection_pushdown,
            ])),
        )
        .enum_value("stability", "CONSISTENT")
        .enum_value(
            "order_preservation",
            if meta.source_order_dependent {
                "FIXED_ORDER"
            } else {
                "NO_ORDER_GUARANTEE"
            },
        )
        .enum_value("partition_kind", "SINGLE_VALUE_PARTITIONS")
        .enum_value("order_dependent", "NOT_ORDER_DEPENDENT")
        .enum_value("distinct_dependent", "NOT_DISTINCT_DEPENDENT")
        .bool("supports_batch_index", meta.requires_input_batch_index)
        .bool("has_finalize", true)
        .bool("source_order_dependent", meta.source_order_dependent)
        .bool("sink_order_dependent", meta.sink_order_dependent)
        .bool(
            "requires_input_batch_index",
            meta.requires_input_batch_index,
        )
        .to_ipc()
}

/// The SchemaInfo record of the worker's one schema.
pub(crate) fn schema_info() -> Result<Vec<u8>> {
    Row::new(schemas::schema_info())
        .strings("path", &[SCHEMA_NAME.to_string()])
        .to_ipc()
}

/// The CatalogInfo record of the one catalog the worker serves.
pub(crate) fn catalog_info() -> Result<Vec<u8>> {
    Row::new(schemas::catalog_info())
        .str("name", CATALOG_NAME)
        .opt_str("implementation_version", Some(env!("CARGO_PKG_VERSION")))
        .to_ipc()
}

/// The CatalogAttachResult record.
pub(crate) fn attach_result(attach_opaque_data: &[u8]) -> Result<Vec<u8>> {
    Row::new(schemas::catalog_attach_result())
        .bytes("attach_opaque_data", attach_opaque_data)
        .str("default_schema", SCHEMA_NAME)
        .bool("supports_catalog_contents", false)
        .to_ipc()
}

/// `{items: [...]}` as a record.
pub(crate) fn items(items: &[Vec<u8>]) -> Result<Vec<u8>> {
    Row::new(schemas::items())
        .byte_list("items", items)
        .to_ipc()
}
