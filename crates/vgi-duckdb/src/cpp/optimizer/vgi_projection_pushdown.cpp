// Projection pushdown: an optimizer pass that tells a buffering call which
// of its output columns the query reads, for functions that declare
// `projection_pushdown`. DuckDB's own column pruning does not look inside
// extension operators, so this runs after DuckDB's optimizers.
#include "duckdb/optimizer/optimizer_extension.hpp"
#include "duckdb/planner/expression/bound_columnref_expression.hpp"
#include "duckdb/planner/expression_iterator.hpp"
#include "duckdb/planner/logical_operator_visitor.hpp"
#include "duckdb/planner/operator/logical_filter.hpp"
#include "duckdb/planner/operator/logical_order.hpp"

#include "operator/logical_vgi_buffering.hpp"
#include "optimizer/vgi_projection_pushdown.hpp"

namespace vgi {

//! Operators that pass their child's columns through, reading some of them.
static bool PassesColumnsThrough(LogicalOperatorType type) {
	switch (type) {
	case LogicalOperatorType::LOGICAL_FILTER:
	case LogicalOperatorType::LOGICAL_ORDER_BY:
	case LogicalOperatorType::LOGICAL_TOP_N:
	case LogicalOperatorType::LOGICAL_LIMIT:
		return true;
	default:
		return false;
	}
}

//! Operators whose output is made only of expressions over their child.
static bool ProjectsColumns(LogicalOperatorType type) {
	return type == LogicalOperatorType::LOGICAL_PROJECTION ||
	       type == LogicalOperatorType::LOGICAL_AGGREGATE_AND_GROUP_BY;
}

//! Adds the columns of `table_index` that `op`'s expressions read.
static void CollectReads(LogicalOperator &op, TableIndex table_index, set<idx_t> &columns) {
	LogicalOperatorVisitor::EnumerateExpressions(op, [&](unique_ptr<Expression> *expr) {
		ExpressionIterator::EnumerateExpression(*expr, [&](Expression &child) {
			if (child.GetExpressionClass() != ExpressionClass::BOUND_COLUMN_REF) {
				return;
			}
			auto &ref = child.Cast<BoundColumnRefExpression>();
			if (ref.Depth() == 0 && ref.Binding().table_index == table_index) {
				columns.insert(ref.Binding().column_index.GetIndex());
			}
		});
	});
}

//! A filter or order directly above the call may select its output columns
//! by position; moves those positions to the pruned output.
static void RemapPositions(LogicalOperator &parent, const vector<idx_t> &kept) {
	vector<ProjectionIndex> *map = nullptr;
	if (parent.type == LogicalOperatorType::LOGICAL_FILTER) {
		map = &parent.Cast<LogicalFilter>().projection_map;
	} else if (parent.type == LogicalOperatorType::LOGICAL_ORDER_BY) {
		map = &parent.Cast<LogicalOrder>().projection_map;
	}
	if (!map) {
		return;
	}
	for (auto &position : *map) {
		auto it = std::find(kept.begin(), kept.end(), position.GetIndex());
		if (it == kept.end()) {
			throw InternalException("vgi: projection pushdown lost a column its parent selects");
		}
		position = ProjectionIndex(NumericCast<idx_t>(it - kept.begin()));
	}
}

//! Prunes `call` when every operator between it and the nearest projection
//! only filters, orders or limits; `ancestors` runs from the root down.
static void TryPrune(LogicalVgiBuffering &call, const vector<reference<LogicalOperator>> &ancestors) {
	set<idx_t> reads;
	for (idx_t i = ancestors.size(); i > 0; i--) {
		auto &op = ancestors[i - 1].get();
		CollectReads(op, call.table_index, reads);
		if (ProjectsColumns(op.type)) {
			call.SetProjection(vector<idx_t>(reads.begin(), reads.end()));
			RemapPositions(ancestors.back().get(), call.OutputColumns());
			return;
		}
		if (!PassesColumnsThrough(op.type)) {
			return;
		}
	}
}

static void Visit(LogicalOperator &op, vector<reference<LogicalOperator>> &ancestors) {
	if (op.type == LogicalOperatorType::LOGICAL_EXTENSION_OPERATOR) {
		auto *call = dynamic_cast<LogicalVgiBuffering *>(&op);
		if (call && call->bind_data->HasFlag(VGI_PROJECTION_PUSHDOWN)) {
			TryPrune(*call, ancestors);
		}
	}
	ancestors.push_back(op);
	for (auto &child : op.children) {
		Visit(*child, ancestors);
	}
	ancestors.pop_back();
}

static void PushDownProjections(OptimizerExtensionInput &, unique_ptr<LogicalOperator> &plan) {
	vector<reference<LogicalOperator>> ancestors;
	Visit(*plan, ancestors);
}

void RegisterProjectionPushdown(DatabaseInstance &db) {
	OptimizerExtension extension;
	extension.optimize_function = PushDownProjections;
	OptimizerExtension::Register(DBConfig::GetConfig(db), std::move(extension));
}

} // namespace vgi
