//! The Arrow schemas of VGI's protocol `vgi.v3` (surface 3.0): the outer
//! parameters of each method and the inner records carried as IPC bytes.
//! Field order, types and nullability matter: peers compare schemas exactly.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// `dictionary<int16, utf8>`: how VGI sends an enum (its member's name).
pub fn enum_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8))
}

/// `dictionary<int32, binary>`: how VGI sends the IPC schemas of a FunctionInfo.
pub fn dict_binary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary))
}

/// `list<utf8>` with pyarrow's child name.
pub fn utf8_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// `list<binary>` with pyarrow's child name.
pub fn binary_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Binary, true)))
}

fn struct_list(fields: Vec<Field>) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(fields)),
        true,
    )))
}

/// `map<utf8, utf8>` with pyarrow's entry names.
pub fn tags_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

fn f(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

/// Parameters of every wrapped method: the request record as IPC bytes.
pub fn wrapped_params() -> SchemaRef {
    schema(vec![f("request", DataType::Binary, false)])
}

/// Result of every method that returns a record: the record as IPC bytes.
pub fn wrapped_result() -> SchemaRef {
    schema(vec![f("result", DataType::Binary, false)])
}

/// A list answer (schemas, functions, ...): each item one record's IPC bytes.
pub fn items() -> SchemaRef {
    schema(vec![f("items", binary_list(), false)])
}

pub fn catalog_attach_request() -> SchemaRef {
    schema(vec![
        f("name", DataType::Utf8, false),
        f("options", DataType::Binary, true),
        f("data_version_spec", DataType::Utf8, true),
        f("implementation_version", DataType::Utf8, true),
        f("client_capabilities", DataType::Binary, true),
    ])
}

pub fn catalog_attach_result() -> SchemaRef {
    schema(vec![
        f("attach_opaque_data", DataType::Binary, false),
        f("supports_transactions", DataType::Boolean, false),
        f("supports_time_travel", DataType::Boolean, false),
        f("catalog_version_frozen", DataType::Boolean, false),
        f("catalog_version", DataType::Int64, false),
        f("attach_opaque_data_required", DataType::Boolean, false),
        f("default_schema", DataType::Utf8, true),
        f("settings", binary_list(), false),
        f("secret_types", binary_list(), false),
        f("attach_catalogs", binary_list(), false),
        f("comment", DataType::Utf8, true),
        f("tags", tags_type(), false),
        f("supports_column_statistics", DataType::Boolean, false),
        f("global_functions", binary_list(), false),
        f("global_function_prefix", DataType::Utf8, false),
        f("resolved_data_version", DataType::Utf8, true),
        f("resolved_implementation_version", DataType::Utf8, true),
        f("supports_catalog_contents", DataType::Boolean, false),
        f("catalog_capabilities", DataType::Binary, true),
        f("selected_capabilities", DataType::Binary, true),
        f("query_pushdown", query_pushdown_type(), true),
    ])
}

/// The `query_pushdown` capabilities of a catalog (always NULL here).
fn query_pushdown_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        f("encoding", DataType::Utf8, false),
        f("semantic_profiles", utf8_list(), false),
        f("execution_modes", utf8_list(), false),
        f("backend_engine", DataType::Utf8, false),
        f("backend_version", DataType::Utf8, false),
        f("capability_revision", DataType::Utf8, false),
        f(
            "default_evaluation_context",
            DataType::Struct(Fields::from(vec![
                f("timezone", DataType::Utf8, false),
                f("collation", DataType::Utf8, false),
                f("default_order", DataType::Utf8, false),
                f("default_null_order", DataType::Utf8, false),
                f("preserve_insertion_order", DataType::Boolean, false),
            ])),
            false,
        ),
        f("max_query_bytes", DataType::Int64, false),
    ]))
}

/// Parameters of `catalog_catalogs`: none (the request has one row).
pub fn catalog_catalogs_params() -> SchemaRef {
    schema(vec![])
}

/// One `catalog_catalogs` item: a catalog this worker can attach.
pub fn catalog_info() -> SchemaRef {
    schema(vec![
        f("name", DataType::Utf8, false),
        f("implementation_version", DataType::Utf8, true),
        f("data_version_spec", DataType::Utf8, true),
        f("attach_option_specs", binary_list(), false),
        f(
            "releases",
            struct_list(vec![
                f("version", DataType::Utf8, false),
                f(
                    "released_at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                f("summary", DataType::Utf8, false),
                f("notes_url", DataType::Utf8, true),
            ]),
            false,
        ),
        f("source_url", DataType::Utf8, true),
    ])
}

/// Flat parameters of `catalog_schemas`.
pub fn catalog_schemas_params() -> SchemaRef {
    schema(vec![
        f("attach_opaque_data", DataType::Binary, false),
        f("transaction_opaque_data", DataType::Binary, true),
    ])
}

pub fn schema_info() -> SchemaRef {
    schema(vec![
        f("comment", DataType::Utf8, true),
        f("tags", tags_type(), false),
        f("path", utf8_list(), false),
        f(
            "estimated_object_count",
            DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Int64, true),
                    ])),
                    false,
                )),
                false,
            ),
            true,
        ),
        f("options", DataType::Binary, true),
    ])
}

/// Flat parameters of `catalog_schema_contents_functions` and `_macros`.
pub fn schema_contents_functions_params() -> SchemaRef {
    schema(vec![
        f("attach_opaque_data", DataType::Binary, false),
        f("path", utf8_list(), false),
        f("type", enum_type(), false),
        f("transaction_opaque_data", DataType::Binary, true),
    ])
}

/// Flat parameters of `catalog_schema_contents_{tables,views,indexes}`.
pub fn schema_contents_params() -> SchemaRef {
    schema(vec![
        f("attach_opaque_data", DataType::Binary, false),
        f("path", utf8_list(), false),
        f("transaction_opaque_data", DataType::Binary, true),
    ])
}

fn filter_function_ref() -> Vec<Field> {
    vec![
        f("namespace", DataType::Utf8, false),
        f("name", DataType::Utf8, false),
        f("version", DataType::UInt64, false),
    ]
}

pub fn function_info() -> SchemaRef {
    schema(vec![
        f("comment", DataType::Utf8, true),
        f("tags", tags_type(), false),
        f("name", DataType::Utf8, false),
        f("schema_path", utf8_list(), false),
        f("function_type", enum_type(), false),
        f("arguments", dict_binary_type(), false),
        f("output_schema", dict_binary_type(), false),
        f("parameter_default_values", dict_binary_type(), true),
        f("stability", enum_type(), true),
        f("null_handling", enum_type(), true),
        f("argument_monotonicity", utf8_list(), true),
        f("description", DataType::Utf8, false),
        f(
            "examples",
            struct_list(vec![
                f("sql", DataType::Utf8, false),
                f("description", DataType::Utf8, false),
                f("expected_output", DataType::Utf8, true),
            ]),
            false,
        ),
        f("categories", utf8_list(), false),
        f("projection_pushdown", DataType::Boolean, true),
        f("filter_pushdown", DataType::Boolean, true),
        f("sampling_pushdown", DataType::Boolean, true),
        f("late_materialization", DataType::Boolean, true),
        f("filter_semantic_profiles", utf8_list(), false),
        f(
            "additional_filter_functions",
            struct_list(filter_function_ref()),
            false,
        ),
        f(
            "runtime_filter_algorithms",
            struct_list(filter_function_ref()),
            false,
        ),
        f(
            "filter_evaluation_contexts",
            struct_list(vec![
                f("profile", DataType::Utf8, false),
                f("provider_fingerprint", DataType::Utf8, true),
            ]),
            false,
        ),
        f("order_preservation", enum_type(), true),
        f("max_workers", DataType::Int32, true),
        f("supports_batch_index", DataType::Boolean, false),
        f("supports_splits", DataType::Boolean, false),
        f("filters_exactly_applied", DataType::Boolean, false),
        f("supports_positions", DataType::Boolean, false),
        f("split_token_ttl_seconds", DataType::Int64, true),
        f("partition_kind", enum_type(), false),
        f("order_dependent", enum_type(), false),
        f("distinct_dependent", enum_type(), false),
        f("supports_window", DataType::Boolean, false),
        f("streaming_partitioned", DataType::Boolean, false),
        f("has_finalize", DataType::Boolean, false),
        f("source_order_dependent", DataType::Boolean, false),
        f("sink_order_dependent", DataType::Boolean, false),
        f("requires_input_batch_index", DataType::Boolean, false),
        f("input_from_args", DataType::Boolean, false),
        f("input_rows_per_call", DataType::Int64, true),
        f("required_settings", utf8_list(), false),
        f(
            "required_secrets",
            struct_list(vec![
                f("secret_type", DataType::Utf8, false),
                f("scope", DataType::Utf8, true),
                f("secret_name", DataType::Utf8, true),
            ]),
            false,
        ),
    ])
}

pub fn bind_request() -> SchemaRef {
    schema(vec![
        f("function_name", DataType::Utf8, false),
        f("arguments", DataType::Binary, false),
        f("function_type", enum_type(), false),
        f("input_schema", DataType::Binary, true),
        f("settings", DataType::Binary, true),
        f("secrets", DataType::Binary, true),
        f("attach_opaque_data", DataType::Binary, true),
        f("transaction_opaque_data", DataType::Binary, true),
        f("resolved_secrets_provided", DataType::Boolean, false),
        f("at_unit", DataType::Utf8, true),
        f("at_value", DataType::Utf8, true),
        f(
            "copy_from",
            DataType::Struct(Fields::from(vec![
                f("format", DataType::Utf8, false),
                f("file_path", DataType::Utf8, false),
                f("expected_schema", DataType::Binary, false),
            ])),
            true,
        ),
        f(
            "copy_to",
            DataType::Struct(Fields::from(vec![
                f("format", DataType::Utf8, false),
                f("file_path", DataType::Utf8, false),
            ])),
            true,
        ),
        f("schema_path", utf8_list(), true),
        f("argument_names", utf8_list(), true),
    ])
}

pub fn bind_response() -> SchemaRef {
    schema(vec![
        f("output_schema", DataType::Binary, false),
        f("opaque_data", DataType::Binary, true),
        f("lookup_secret_types", utf8_list(), false),
        f("lookup_scopes", utf8_list(), false),
        f("lookup_names", utf8_list(), false),
        f("projection_expression_profiles", utf8_list(), false),
        f("repeatability", enum_type(), false),
    ])
}

pub fn init_request() -> SchemaRef {
    schema(vec![
        f("bind_call", DataType::Binary, false),
        f("output_schema", DataType::Binary, false),
        f("bind_opaque_data", DataType::Binary, true),
        f(
            "projection_ids",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ),
        f("pushdown_filters", DataType::LargeBinary, true),
        f(
            "join_keys",
            DataType::List(Arc::new(Field::new("item", DataType::LargeBinary, true))),
            true,
        ),
        f(
            "split_tokens",
            DataType::List(Arc::new(Field::new("item", DataType::LargeBinary, true))),
            true,
        ),
        f("row_limit", DataType::Int64, true),
        f("phase", enum_type(), true),
        f("finalize_state_id", DataType::Binary, true),
        f("execution_id", DataType::Binary, true),
        f("init_opaque_data", DataType::Binary, true),
        f("substream_id", DataType::Binary, true),
        f("order_by_column_name", DataType::Utf8, true),
        f("order_by_direction", enum_type(), true),
        f("order_by_null_order", enum_type(), true),
        f("order_by_limit", DataType::Int64, true),
        f("tablesample_percentage", DataType::Float64, true),
        f("tablesample_seed", DataType::Int64, true),
    ])
}

/// The header of an `init` stream (flat, not wrapped).
pub fn global_init_response() -> SchemaRef {
    schema(vec![
        f("execution_id", DataType::Binary, false),
        f("opaque_data", DataType::Binary, true),
        f("max_workers", DataType::Int64, false),
    ])
}

pub fn process_request() -> SchemaRef {
    schema(vec![
        f("function_name", DataType::Utf8, false),
        f("execution_id", DataType::Binary, false),
        f("input_batch", DataType::Binary, false),
        f("attach_opaque_data", DataType::Binary, true),
        f("transaction_id", DataType::Binary, true),
        f("batch_index", DataType::Int64, true),
        f("schema_path", utf8_list(), true),
    ])
}

pub fn process_response() -> SchemaRef {
    schema(vec![f("state_id", DataType::Binary, false)])
}

pub fn combine_request() -> SchemaRef {
    schema(vec![
        f("function_name", DataType::Utf8, false),
        f("execution_id", DataType::Binary, false),
        f("state_ids", binary_list(), false),
        f("attach_opaque_data", DataType::Binary, true),
        f("transaction_id", DataType::Binary, true),
        f("schema_path", utf8_list(), true),
    ])
}

pub fn combine_response() -> SchemaRef {
    schema(vec![f("finalize_state_ids", binary_list(), false)])
}

pub fn destructor_request() -> SchemaRef {
    schema(vec![
        f("function_name", DataType::Utf8, false),
        f("execution_id", DataType::Binary, false),
        f("attach_opaque_data", DataType::Binary, true),
        f("transaction_id", DataType::Binary, true),
        f("schema_path", utf8_list(), true),
    ])
}

/// The (empty) destructor response.
pub fn empty() -> SchemaRef {
    schema(vec![])
}
