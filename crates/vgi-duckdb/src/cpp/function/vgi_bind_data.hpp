// What binding one call of a buffering function produced.
#pragma once

#include "duckdb.hpp"

#include "arrow/vgi_arrow.hpp"
#include "vgi_ffi.h"

namespace vgi {

using namespace duckdb;

//! What binding one call produced; shared by the logical and physical plans.
struct VgiBindData {
	VgiBindData(const VgiFunction *function, string name, uint32_t flags, VgiBoundCall *bound_call,
	          unique_ptr<ArrowSchemaWrapper> output_schema, ImportedSchema output, vector<LogicalType> types);
	~VgiBindData();
	VgiBindData(const VgiBindData &) = delete;
	VgiBindData &operator=(const VgiBindData &) = delete;

	const VgiFunction *function;
	string name;
	uint32_t flags;
	//! The Rust bound call, freed with this.
	VgiBoundCall *bound_call;
	//! The output schema Rust exported, kept alive beside its DuckDB import.
	unique_ptr<ArrowSchemaWrapper> output_schema;
	ImportedSchema output;
	//! The output types DuckDB sees: the imported ones, but for columns passed
	//! through from the input with a type Arrow cannot carry (ENUM, unnamed
	//! STRUCT), which get the input's type back (see RestoredTypes).
	vector<LogicalType> types;

	bool HasFlag(uint32_t flag) const {
		return (flags & flag) != 0;
	}
	//! Whether output column `column` is emitted as its import type, then cast.
	bool IsRestored(idx_t column) const {
		return types[column] != output.types[column];
	}
};

//! The output types to present for `output` (imported from `output_arrow`):
//! an output column with the name and the very Arrow type (format,
//! dictionary, children) of an input column whose DuckDB type Arrow does not
//! carry takes the input column's type.
vector<LogicalType> RestoredTypes(ClientContext &context, const ArrowSchema &output_arrow,
                                  const ImportedSchema &output, const vector<LogicalType> &input_types,
                                  const vector<string> &input_names);

} // namespace vgi
