// The buffering operator in physical plans: a parallel Sink (process,
// combine; physical_vgi_buffering_sink.cpp) and a Source (one finalize
// producer per finalize state id; physical_vgi_buffering_source.cpp).
#pragma once

#include "duckdb.hpp"
#include "duckdb/execution/physical_operator.hpp"

#include "function/vgi_bind_data.hpp"
#include "operator/vgi_execution_handle.hpp"

namespace vgi {

using namespace duckdb;

class VgiGlobalSinkState;
class VgiLocalSinkState;

class PhysicalVgiBuffering : public PhysicalOperator {
public:
	static constexpr const PhysicalOperatorType TYPE = PhysicalOperatorType::EXTENSION;

	PhysicalVgiBuffering(PhysicalPlan &plan, vector<LogicalType> types, idx_t cardinality,
	                     shared_ptr<VgiBindData> bind_data_p, vector<idx_t> input_columns_p, bool number_batches_p,
	                     vector<idx_t> projection_p);

	shared_ptr<VgiBindData> bind_data;
	//! Where each input column of the function sits in the child's chunks.
	vector<idx_t> input_columns;
	//! The function needs batch indexes but the input's sources cannot supply
	//! them: sink on one thread in input order and number the chunks.
	bool number_batches;
	//! The output columns produced (empty: all), see LogicalVgiBuffering.
	vector<idx_t> projection;

	bool UsesBatchIndex() const {
		return bind_data->HasFlag(VGI_REQUIRES_INPUT_BATCH_INDEX) && !number_batches;
	}
	bool SinksInOrder() const {
		return bind_data->HasFlag(VGI_SINK_ORDER_DEPENDENT) || number_batches;
	}

	string GetName() const override {
		return bind_data->name;
	}
	InsertionOrderPreservingMap<string> ParamsToString() const override;

	// Sink
	bool IsSink() const override {
		return true;
	}
	bool ParallelSink() const override {
		return !SinksInOrder();
	}
	bool SinkOrderDependent() const override {
		return SinksInOrder();
	}
	OperatorPartitionInfo RequiredPartitionInfo() const override {
		return UsesBatchIndex() ? OperatorPartitionInfo::BatchIndex() : OperatorPartitionInfo::NoPartitionInfo();
	}
	unique_ptr<GlobalSinkState> GetGlobalSinkState(ClientContext &context) const override;
	unique_ptr<LocalSinkState> GetLocalSinkState(ExecutionContext &context) const override;
	SinkResultType Sink(ExecutionContext &context, DataChunk &chunk, OperatorSinkInput &input) const override;
	SinkCombineResultType Combine(ExecutionContext &context, OperatorSinkCombineInput &input) const override;
	void Flush(ExecutionContext &context, VgiGlobalSinkState &gstate, VgiLocalSinkState &lstate) const;
	void SinkInPlace(ExecutionContext &context, VgiGlobalSinkState &gstate, VgiLocalSinkState &lstate,
	                 DataChunk &chunk) const;
	SinkFinalizeType Finalize(Pipeline &pipeline, Event &event, ClientContext &context,
	                          OperatorSinkFinalizeInput &input) const override;

	// Source
	bool IsSource() const override {
		return true;
	}
	bool ParallelSource() const override {
		return !bind_data->HasFlag(VGI_SOURCE_ORDER_DEPENDENT);
	}
	OrderPreservationType SourceOrder() const override {
		return bind_data->HasFlag(VGI_SOURCE_ORDER_DEPENDENT) ? OrderPreservationType::FIXED_ORDER
		                                                 : OrderPreservationType::NO_ORDER;
	}
	unique_ptr<GlobalSourceState> GetGlobalSourceState(ClientContext &context) const override;
	unique_ptr<LocalSourceState> GetLocalSourceState(ExecutionContext &context,
	                                                 GlobalSourceState &gstate) const override;

protected:
	SourceResultType GetDataInternal(ExecutionContext &context, DataChunk &chunk,
	                                 OperatorSourceInput &input) const override;
};

//! The sink's global state; the source reads its execution and finalize count.
class VgiGlobalSinkState : public GlobalSinkState {
public:
	explicit VgiGlobalSinkState(shared_ptr<VgiExecutionHandle> execution_p) : execution(std::move(execution_p)) {
	}
	shared_ptr<VgiExecutionHandle> execution;
	idx_t finalize_count = 0;
	idx_t batch_rows = 1;
	//! The next batch number, when the operator numbers batches itself.
	atomic<int64_t> next_batch {0};
};

} // namespace vgi
