// The buffering operator in logical plans: an extension operator that plans
// into PhysicalVgiBuffering.
#pragma once

#include "duckdb.hpp"
#include "duckdb/planner/operator/logical_extension_operator.hpp"

#include "function/vgi_bind_data.hpp"

namespace vgi {

using namespace duckdb;

class LogicalVgiBuffering : public LogicalExtensionOperator {
public:
	LogicalVgiBuffering(TableIndex table_index, shared_ptr<VgiBindData> bind_data);

	TableIndex table_index;
	shared_ptr<VgiBindData> bind_data;
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
	//! bound call is referenced by a process-local id, not written out
	//! (VgiOperatorExtension reads it back).
	void Serialize(Serializer &serializer) const override;

protected:
	void ResolveTypes() override;
};

} // namespace vgi
