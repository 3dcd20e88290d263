// The Sink part of PhysicalVgiBuffering: starts the execution, gathers each
// thread's input into Arrow batches for `process` (or hands each chunk in
// place to the function's in-place sink) and runs `combine`.
#include "operator/physical_vgi_buffering.hpp"

#include "duckdb/logging/logger.hpp"
#include "duckdb/main/settings.hpp"

#include "arrow/vgi_batch_builder.hpp"
#include "operator/vgi_operator_extension.hpp"
#include "operator/vgi_query_executions.hpp"
#include "vgi_api.hpp"

namespace vgi {

class VgiLocalSinkState : public LocalSinkState {
public:
	~VgiLocalSinkState() override {
		if (in_place) {
			Api().in_place_free(in_place);
		}
	}
	DataChunk input;
	//! The rows gathered for the next `process` call and their batch index.
	unique_ptr<ArrowBatchBuilder> batch;
	int64_t batch_index = -1;
	//! The function's in-place sink for this thread, if it has one (asked
	//! once, at the first chunk), and the columns of the chunk it is given.
	VgiInPlace *in_place = nullptr;
	bool asked_in_place = false;
	vector<VgiColumn> columns;
};

//! Whether a vector of `type` is handed over in place: the fixed-width
//! numbers, which DuckDB stores as plain values (Rust reads them only where
//! the input's Arrow type is that number).
static bool HandedInPlace(PhysicalType type) {
	switch (type) {
	case PhysicalType::INT8:
	case PhysicalType::INT16:
	case PhysicalType::INT32:
	case PhysicalType::INT64:
	case PhysicalType::UINT8:
	case PhysicalType::UINT16:
	case PhysicalType::UINT32:
	case PhysicalType::UINT64:
	case PhysicalType::FLOAT:
	case PhysicalType::DOUBLE:
		return true;
	default:
		return false;
	}
}

//! The interrupt probe handed to Rust: whether the query of `context` was interrupted.
static int IsInterrupted(void *context) {
	return static_cast<ClientContext *>(context)->IsInterrupted() ? 1 : 0;
}

//! How many rows (and at most how many bytes) the bridge gathers per thread
//! before it calls `process`.
static constexpr const char *PROCESS_BATCH_ROWS_SETTING = "vgi_process_batch_rows";
static constexpr idx_t PROCESS_BATCH_MAX_BYTES = 32ULL * 1024 * 1024;

static idx_t ProcessBatchRows(ClientContext &context, const string &function) {
	Value setting;
	if (!context.TryGetCurrentSetting(Identifier(PROCESS_BATCH_ROWS_SETTING), setting) || setting.IsNull()) {
		return 1;
	}
	auto rows = setting.GetValue<int64_t>();
	if (rows < 1) {
		throw InvalidInputException("%s: %s must be at least 1, got %lld", function, PROCESS_BATCH_ROWS_SETTING,
		                            rows);
	}
	return NumericCast<idx_t>(rows);
}

unique_ptr<GlobalSinkState> PhysicalVgiBuffering::GetGlobalSinkState(ClientContext &context) const {
	auto batch_rows = ProcessBatchRows(context, bind_data->name);
	char *error = nullptr;
	uint32_t flags = 0;
	if (Logger::Get(context).ShouldLog(VgiExecutionHandle::LOG_TYPE, LogLevel::LOG_DEBUG)) {
		flags |= VGI_EXECUTION_DEBUG_LOGS;
	}
	if (!Settings::Get<EnableExternalAccessSetting>(context)) {
		flags |= VGI_EXECUTION_NO_EXTERNAL_ACCESS;
	}
	auto started = Api().bound_call_start(bind_data->bound_call, flags, &context, IsInterrupted,
	                             projection.empty() ? nullptr : projection.data(), projection.size(), &error);
	if (!started) {
		ThrowRustError(bind_data->name, "init", error);
	}
	auto execution = make_shared_ptr<VgiExecutionHandle>(started);
	// The latest query's budget bounds the freed batch memory kept for reuse.
	BufferPool::Get().SetLimit(Api().bound_call_memory_budget(bind_data->bound_call));
	// Keyed per library: each extension built on this bridge has its own class.
	context.registered_state->GetOrCreate<VgiQueryExecutions>(OperatorExtensionName() + "/executions")->Add(execution);
	auto state = make_uniq<VgiGlobalSinkState>(std::move(execution));
	state->batch_rows = batch_rows;
	return std::move(state);
}

unique_ptr<LocalSinkState> PhysicalVgiBuffering::GetLocalSinkState(ExecutionContext &) const {
	return make_uniq<VgiLocalSinkState>();
}

//! Calls `process` with the rows a thread gathered, if any.
void PhysicalVgiBuffering::Flush(ExecutionContext &context, VgiGlobalSinkState &gstate,
                                 VgiLocalSinkState &lstate) const {
	if (!lstate.batch || lstate.batch->Rows() == 0) {
		return;
	}
	ArrowArrayWrapper array;
	lstate.batch->Finish(array.arrow_array);
	auto batch_index = number_batches ? gstate.next_batch++ : lstate.batch_index;
	char *error = nullptr;
	auto status = Api().execution_process(gstate.execution->Get(), &array.arrow_array, batch_index, &error);
	gstate.execution->DrainLogs(context.client);
	if (status != 0) {
		ThrowPhaseError(context.client, bind_data->name, "process", error);
	}
}

//! Hands one chunk to the thread's in-place sink: its number columns
//! flattened, borrowed for the call.
void PhysicalVgiBuffering::SinkInPlace(ExecutionContext &context, VgiGlobalSinkState &gstate,
                                       VgiLocalSinkState &lstate, DataChunk &chunk) const {
	auto count = chunk.size();
	lstate.columns.resize(input_columns.size());
	for (idx_t i = 0; i < input_columns.size(); i++) {
		auto &vector = chunk.data[input_columns[i]];
		auto type = vector.GetType().InternalType();
		auto &column = lstate.columns[i];
		if (!HandedInPlace(type)) {
			column = VgiColumn {nullptr, nullptr, 0};
			continue;
		}
		vector.Flatten();
		column.data = FlatVector::GetData(vector);
		column.validity = FlatVector::Validity(vector).GetData();
		column.width = GetTypeIdSize(type);
	}
	char *error = nullptr;
	auto status = Api().execution_in_place_sink(gstate.execution->Get(), lstate.in_place, lstate.columns.data(),
	                                             lstate.columns.size(), count, &error);
	gstate.execution->DrainLogs(context.client);
	if (status != 0) {
		ThrowPhaseError(context.client, bind_data->name, "process", error);
	}
}

SinkResultType PhysicalVgiBuffering::Sink(ExecutionContext &context, DataChunk &chunk,
                                          OperatorSinkInput &input) const {
	auto &gstate = input.global_state.Cast<VgiGlobalSinkState>();
	auto &lstate = input.local_state.Cast<VgiLocalSinkState>();
	if (chunk.size() == 0) {
		return SinkResultType::NEED_MORE_INPUT;
	}
	// A function that reads batch indexes gets process batches.
	if (!lstate.asked_in_place && !UsesBatchIndex() && !number_batches) {
		lstate.asked_in_place = true;
		char *error = nullptr;
		if (Api().execution_in_place_start(gstate.execution->Get(), &lstate.in_place, &error) != 0) {
			ThrowPhaseError(context.client, bind_data->name, "process", error);
		}
	}
	if (lstate.in_place) {
		SinkInPlace(context, gstate, lstate, chunk);
		return SinkResultType::NEED_MORE_INPUT;
	}
	if (!lstate.batch) {
		vector<LogicalType> types;
		for (auto column : input_columns) {
			types.push_back(chunk.data[column].GetType());
		}
		lstate.input.InitializeEmpty(types);
		auto capacity = MinValue<idx_t>(gstate.batch_rows, DEFAULT_ROW_GROUP_SIZE);
		lstate.batch = make_uniq<ArrowBatchBuilder>(context.client, std::move(types), capacity);
	}
	// A batch holds the rows of one batch index only.
	if (UsesBatchIndex()) {
		auto batch_index = NumericCast<int64_t>(lstate.partition_info.batch_index.GetIndex());
		if (batch_index != lstate.batch_index) {
			Flush(context, gstate, lstate);
			lstate.batch_index = batch_index;
		}
	}
	for (idx_t i = 0; i < input_columns.size(); i++) {
		lstate.input.data[i].Reference(chunk.data[input_columns[i]]);
	}
	lstate.input.SetCardinalityUnsafe(chunk.size());
	lstate.batch->Append(lstate.input);
	if (lstate.batch->Rows() >= gstate.batch_rows || lstate.batch->Bytes() >= PROCESS_BATCH_MAX_BYTES) {
		Flush(context, gstate, lstate);
	}
	return SinkResultType::NEED_MORE_INPUT;
}

SinkCombineResultType PhysicalVgiBuffering::Combine(ExecutionContext &context,
                                                    OperatorSinkCombineInput &input) const {
	auto &gstate = input.global_state.Cast<VgiGlobalSinkState>();
	auto &lstate = input.local_state.Cast<VgiLocalSinkState>();
	if (lstate.in_place) {
		// Finishing frees the sink, also when it fails.
		auto sink = lstate.in_place;
		lstate.in_place = nullptr;
		char *error = nullptr;
		auto status = Api().execution_in_place_finish(gstate.execution->Get(), sink, &error);
		gstate.execution->DrainLogs(context.client);
		if (status != 0) {
			ThrowPhaseError(context.client, bind_data->name, "process", error);
		}
		return SinkCombineResultType::FINISHED;
	}
	Flush(context, gstate, lstate);
	return SinkCombineResultType::FINISHED;
}

SinkFinalizeType PhysicalVgiBuffering::Finalize(Pipeline &, Event &, ClientContext &context,
                                                OperatorSinkFinalizeInput &input) const {
	auto &gstate = input.global_state.Cast<VgiGlobalSinkState>();
	char *error = nullptr;
	size_t count = 0;
	auto status = Api().execution_combine(gstate.execution->Get(), &count, &error);
	gstate.execution->DrainLogs(context);
	if (status != 0) {
		ThrowPhaseError(context, bind_data->name, "combine", error);
	}
	gstate.finalize_count = count;
	return SinkFinalizeType::READY;
}

} // namespace vgi
