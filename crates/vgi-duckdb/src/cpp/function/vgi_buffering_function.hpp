// A Rust buffering function as a DuckDB table function, whose binding plans
// the buffering operator (LogicalVgiBuffering).
#pragma once

#include "duckdb.hpp"
#include "duckdb/function/table_function.hpp"
#include "duckdb/parser/parsed_data/create_function_info.hpp"

#include "vgi_registry_handle.hpp"

namespace vgi {

using namespace duckdb;

//! The table function of `fn` (a function of `registry`); its description
//! (parameters, documentation, examples) goes into `description`.
TableFunction MakeBufferingFunction(DatabaseInstance &db, const shared_ptr<VgiRegistryHandle> &registry,
                                    const VgiFunction *fn, FunctionDescription &description);

} // namespace vgi
