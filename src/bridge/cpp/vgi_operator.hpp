// The buffering operator: a logical extension operator that plans into one
// physical operator which is a parallel Sink (process, combine) and a Source
// (one finalize producer per finalize state id).
#pragma once

#include "duckdb.hpp"
#include "duckdb/execution/physical_operator.hpp"
#include "duckdb/planner/operator/logical_extension_operator.hpp"

#include "vgi_arrow.hpp"
#include "vgi_ffi.h"

namespace vgi {

using namespace duckdb;

//! What binding one call produced; shared by the logical and physical plans.
struct BoundCall {
	BoundCall(const VgiFunction *function, string name, uint32_t flags, VgiBind *bind,
	          unique_ptr<ArrowSchemaWrapper> output_schema, ImportedSchema output, vector<LogicalType> types);
	~BoundCall();
	BoundCall(const BoundCall &) = delete;
	BoundCall &operator=(const BoundCall &) = delete;

	const VgiFunction *function;
	string name;
	uint32_t flags;
	VgiBind *bind;
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

//! Registers the operator extension that deserializes plan copies.
void RegisterOperatorExtension(DatabaseInstance &db);

//! Raises a DuckDB error naming the function and phase, from a Rust error.
[[noreturn]] void ThrowRustError(const string &function, const char *phase, char *error);

class LogicalVgiBuffering : public LogicalExtensionOperator {
public:
	LogicalVgiBuffering(TableIndex table_index, shared_ptr<BoundCall> call);

	TableIndex table_index;
	shared_ptr<BoundCall> call;
	//! The output columns the query reads (indexes into the bound output);
	//! empty until projection pushdown narrows it: then all are produced.
	vector<idx_t> projection;

	//! Narrows the output to `columns` (at least one is kept).
	void SetProjection(vector<idx_t> columns);
	//! The output columns produced, in order.
	vector<idx_t> OutputColumns() const;

	vector<ColumnBinding> GetColumnBindings() override;
	vector<TableIndex> GetTableIndex() const override;
	PhysicalOperator &CreatePlan(ClientContext &context, PhysicalPlanGenerator &planner) override;
	string GetName() const override;
	string GetExtensionName() const override;
	bool SupportSerialization() const override {
		return false;
	}
	unique_ptr<LogicalOperator> Copy(ClientContext &context) const override;
	//! Serialization exists for in-process plan copies (DuckDB copies a plan
	//! above this operator by serializing it, e.g. to inline a CTE): the
	//! bound call is referenced by a process-local id, not written out.
	void Serialize(Serializer &serializer) const override;

protected:
	void ResolveTypes() override;
};

} // namespace vgi
