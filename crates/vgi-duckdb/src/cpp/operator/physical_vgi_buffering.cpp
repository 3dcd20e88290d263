#include "operator/physical_vgi_buffering.hpp"

namespace vgi {

PhysicalVgiBuffering::PhysicalVgiBuffering(PhysicalPlan &plan, vector<LogicalType> types, idx_t cardinality,
                                           shared_ptr<VgiBindData> bind_data_p, vector<idx_t> input_columns_p,
                                           bool number_batches_p, vector<idx_t> projection_p)
    : PhysicalOperator(plan, TYPE, std::move(types), cardinality), bind_data(std::move(bind_data_p)),
      input_columns(std::move(input_columns_p)), number_batches(number_batches_p),
      projection(std::move(projection_p)) {
}

InsertionOrderPreservingMap<string> PhysicalVgiBuffering::ParamsToString() const {
	InsertionOrderPreservingMap<string> result;
	// EXPLAIN titles the operator by GetName(); EXPLAIN ANALYZE's profiler
	// by its type (EXTENSION), so the name goes here too.
	result["Function"] = bind_data->name;
	if (!projection.empty()) {
		vector<string> names;
		for (auto column : projection) {
			names.push_back(bind_data->output.names[column]);
		}
		result["Projected Columns"] = StringUtil::Join(names, ", ");
	}
	if (number_batches) {
		result["Batch Index"] = "numbered in input order";
	}
	return result;
}

} // namespace vgi
