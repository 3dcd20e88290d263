// Conversions between DuckDB chunks and the Arrow C Data Interface.
#pragma once

#include "duckdb.hpp"
#include "duckdb/common/arrow/arrow.hpp"
#include "duckdb/common/arrow/arrow_wrapper.hpp"
#include "duckdb/function/table/arrow.hpp"

namespace vgi {

using namespace duckdb;

//! The Arrow options used on both sides of every conversion (lossless, so
//! that UUIDs, HUGEINTs and the like keep their DuckDB type on the way back).
ClientProperties ArrowProperties(ClientContext &context);

void ExportSchema(ClientContext &context, const vector<LogicalType> &types, const vector<string> &names,
                  ArrowSchema &out);
void ExportChunk(ClientContext &context, DataChunk &chunk, ArrowArray &out);

//! Owns an imported Arrow schema and the DuckDB types it maps to.
struct ImportedSchema {
	ArrowTableSchema table;
	vector<LogicalType> types;
	vector<string> names;
};
ImportedSchema ImportSchema(ClientContext &context, ArrowSchema &schema);

//! Moves a one-row chunk of constants out as a struct array and its schema.
void ExportRow(ClientContext &context, const vector<LogicalType> &types, const vector<string> &names,
               const vector<Value> &values, ArrowSchema &out_schema, ArrowArray &out_array);

//! The types and the one row of values of a struct array Rust exported with
//! its schema (a function's parameter defaults, the settings' defaults).
struct ImportedRow {
	vector<LogicalType> types;
	vector<Value> values;
};
//! Imports a one-row struct array (no context needed: it opens a
//! short-lived connection to `db`, as at LOAD time).
ImportedRow ImportRow(DatabaseInstance &db, ArrowSchemaWrapper &schema, ArrowArrayWrapper &row);

//! Emits one Arrow struct array as DuckDB chunks of at most STANDARD_VECTOR_SIZE rows.
class ArrowBatchReader {
public:
	ArrowBatchReader(ClientContext &context, ArrowArray &array);
	bool Finished() const;
	//! Fills `out` with the next slice of rows; `columns` are the schema's
	//! columns that the batch holds and `out` receives (empty: all).
	void Emit(const ImportedSchema &schema, DataChunk &out, const vector<idx_t> &columns = {});

private:
	unique_ptr<ArrowScanLocalState> state;
	idx_t length;
};

} // namespace vgi
