// The Source part of PhysicalVgiBuffering: threads claim finalize ids and
// emit the batches of each id's producer.
#include "operator/physical_vgi_buffering.hpp"

#include "duckdb/common/vector_operations/vector_operations.hpp"

#include "arrow/vgi_arrow.hpp"
#include "vgi_api.hpp"

namespace vgi {

class VgiGlobalSourceState : public GlobalSourceState {
public:
	VgiGlobalSourceState(idx_t count_p, bool parallel) : count(count_p), max_threads(parallel ? count_p : 1) {
	}
	idx_t MaxThreads() override {
		return MaxValue<idx_t>(max_threads, 1);
	}
	//! Claims the next finalize id; false when all are taken.
	bool Next(idx_t &index) {
		index = next.fetch_add(1);
		return index < count;
	}

private:
	const idx_t count;
	const idx_t max_threads;
	atomic<idx_t> next {0};
};

class VgiLocalSourceState : public LocalSourceState {
public:
	~VgiLocalSourceState() override {
		Close();
	}
	void Close() {
		if (producer) {
			Api().producer_free(producer);
			producer = nullptr;
		}
	}
	VgiProducer *producer = nullptr;
	unique_ptr<ArrowBatchReader> reader;
	//! The produced columns as imported, when some are cast to a restored type.
	DataChunk imported;
};

//! The produced columns (all, or the projected ones).
static vector<idx_t> ProducedColumns(const VgiBindData &bind_data, const vector<idx_t> &projection) {
	if (!projection.empty()) {
		return projection;
	}
	vector<idx_t> all;
	for (idx_t i = 0; i < bind_data.types.size(); i++) {
		all.push_back(i);
	}
	return all;
}

//! Emits the reader's next rows into `chunk`; columns of a restored type
//! are emitted as imported, then cast.
static void EmitRows(ClientContext &context, const VgiBindData &bind_data, const vector<idx_t> &projection,
                     VgiLocalSourceState &lstate, DataChunk &chunk) {
	auto columns = ProducedColumns(bind_data, projection);
	bool restored = false;
	for (auto column : columns) {
		restored = restored || bind_data.IsRestored(column);
	}
	if (!restored) {
		lstate.reader->Emit(bind_data.output, chunk, projection);
		return;
	}
	if (lstate.imported.ColumnCount() == 0) {
		vector<LogicalType> types;
		for (auto column : columns) {
			types.push_back(bind_data.output.types[column]);
		}
		lstate.imported.Initialize(context, types);
	}
	lstate.reader->Emit(bind_data.output, lstate.imported, projection);
	auto count = lstate.imported.size();
	chunk.Reset();
	for (idx_t i = 0; i < columns.size(); i++) {
		if (bind_data.IsRestored(columns[i])) {
			VectorOperations::Cast(context, lstate.imported.data[i], chunk.data[i], count);
		} else {
			chunk.data[i].Reference(lstate.imported.data[i]);
		}
	}
	chunk.SetCardinalityUnsafe(count);
}

unique_ptr<GlobalSourceState> PhysicalVgiBuffering::GetGlobalSourceState(ClientContext &) const {
	auto &sink = sink_state->Cast<VgiGlobalSinkState>();
	return make_uniq<VgiGlobalSourceState>(sink.finalize_count, ParallelSource());
}

unique_ptr<LocalSourceState> PhysicalVgiBuffering::GetLocalSourceState(ExecutionContext &, GlobalSourceState &) const {
	return make_uniq<VgiLocalSourceState>();
}

SourceResultType PhysicalVgiBuffering::GetDataInternal(ExecutionContext &context, DataChunk &chunk,
                                                       OperatorSourceInput &input) const {
	auto &sink = sink_state->Cast<VgiGlobalSinkState>();
	auto &gstate = input.global_state.Cast<VgiGlobalSourceState>();
	auto &lstate = input.local_state.Cast<VgiLocalSourceState>();
	while (true) {
		if (lstate.reader && !lstate.reader->Finished()) {
			EmitRows(context.client, *bind_data, projection, lstate, chunk);
			return SourceResultType::HAVE_MORE_OUTPUT;
		}
		lstate.reader.reset();
		char *error = nullptr;
		if (lstate.producer) {
			// Released by the wrapper unless the reader takes it over.
			ArrowArrayWrapper array;
			auto status = Api().producer_next(lstate.producer, &array.arrow_array, &error);
			sink.execution->DrainLogs(context.client);
			if (status < 0) {
				ThrowPhaseError(context.client, bind_data->name, "finalize", error);
			}
			if (status == 0) {
				lstate.Close();
				continue;
			}
			lstate.reader = make_uniq<ArrowBatchReader>(context.client, array.arrow_array);
			continue;
		}
		idx_t index;
		if (!gstate.Next(index)) {
			chunk.SetCardinalityUnsafe(0);
			return SourceResultType::FINISHED;
		}
		lstate.producer = Api().execution_finalize(sink.execution->Get(), index, &error);
		sink.execution->DrainLogs(context.client);
		if (!lstate.producer) {
			ThrowPhaseError(context.client, bind_data->name, "finalize", error);
		}
	}
}

} // namespace vgi
