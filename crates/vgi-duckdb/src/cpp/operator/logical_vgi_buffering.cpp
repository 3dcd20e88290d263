#include "operator/logical_vgi_buffering.hpp"

#include "duckdb/common/serializer/serializer.hpp"
#include "duckdb/execution/physical_plan_generator.hpp"
#include "duckdb/planner/expression/bound_reference_expression.hpp"

#include "operator/physical_vgi_buffering.hpp"
#include "operator/vgi_operator_extension.hpp"

namespace vgi {

LogicalVgiBuffering::LogicalVgiBuffering(TableIndex table_index_p, shared_ptr<VgiBindData> bind_data_p)
    : table_index(table_index_p), bind_data(std::move(bind_data_p)) {
}

void LogicalVgiBuffering::SetProjection(vector<idx_t> columns) {
	projection = columns.empty() ? vector<idx_t> {0} : std::move(columns);
	ResolveOperatorTypes();
}

vector<idx_t> LogicalVgiBuffering::OutputColumns() const {
	if (!projection.empty()) {
		return projection;
	}
	vector<idx_t> all;
	for (idx_t i = 0; i < bind_data->types.size(); i++) {
		all.push_back(i);
	}
	return all;
}

vector<ColumnBinding> LogicalVgiBuffering::GetColumnBindings() {
	vector<ColumnBinding> bindings;
	for (auto column : OutputColumns()) {
		bindings.emplace_back(table_index, ProjectionIndex(column));
	}
	return bindings;
}

vector<TableIndex> LogicalVgiBuffering::GetTableIndex() const {
	return {table_index};
}

void LogicalVgiBuffering::ResolveTypes() {
	types.clear();
	for (auto column : OutputColumns()) {
		types.push_back(bind_data->types[column]);
	}
}

string LogicalVgiBuffering::GetName() const {
	return bind_data->name;
}

string LogicalVgiBuffering::GetExtensionName() const {
	return OperatorExtensionName();
}

void LogicalVgiBuffering::Serialize(Serializer &serializer) const {
	LogicalExtensionOperator::Serialize(serializer);
	serializer.WriteProperty<uint64_t>(201, "call_id", BindDataIds().Add(bind_data));
	serializer.WriteProperty<idx_t>(202, "table_index", table_index.index);
	serializer.WriteProperty(203, "projection", projection);
	serializer.WriteProperty(204, "expressions", expressions);
}

unique_ptr<LogicalOperator> LogicalVgiBuffering::Copy(ClientContext &context) const {
	auto copy = make_uniq<LogicalVgiBuffering>(table_index, bind_data);
	copy->projection = projection;
	for (auto &expr : expressions) {
		copy->expressions.push_back(expr->Copy());
	}
	for (auto &child : children) {
		copy->children.push_back(child->Copy(context));
	}
	copy->types = types;
	copy->estimated_cardinality = estimated_cardinality;
	copy->has_estimated_cardinality = has_estimated_cardinality;
	return std::move(copy);
}

PhysicalOperator &LogicalVgiBuffering::CreatePlan(ClientContext &, PhysicalPlanGenerator &planner) {
	auto &child = planner.CreatePlan(*children[0]);
	// The expressions reference every input column; after column binding
	// resolution they say where each one sits in the child's chunks.
	vector<idx_t> input_columns;
	for (auto &expr : expressions) {
		if (expr->GetExpressionClass() != ExpressionClass::BOUND_REF) {
			throw InternalException("%s: input column was not resolved", bind_data->name);
		}
		input_columns.push_back(expr->Cast<BoundReferenceExpression>().Index());
	}
	auto number_batches = bind_data->HasFlag(VGI_REQUIRES_INPUT_BATCH_INDEX) && !child.AllSourcesSupportBatchIndex();
	auto &op = planner.Make<PhysicalVgiBuffering>(types, estimated_cardinality, bind_data, std::move(input_columns),
	                                              number_batches, projection);
	op.children.push_back(child);
	return op;
}

} // namespace vgi
