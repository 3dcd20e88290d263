#include "vgi_operator.hpp"
#include "vgi_batch_builder.hpp"

#include "duckdb/execution/physical_plan_generator.hpp"
#include "duckdb/common/serializer/deserializer.hpp"
#include "duckdb/common/serializer/serializer.hpp"
#include "duckdb/logging/logger.hpp"
#include "duckdb/planner/operator_extension.hpp"
#include "duckdb/main/client_context_state.hpp"
#include "duckdb/main/settings.hpp"
#include "duckdb/planner/expression/bound_reference_expression.hpp"
#include "duckdb/common/vector_operations/vector_operations.hpp"

namespace vgi {

static string OperatorExtensionName();

//===--------------------------------------------------------------------===//
// Errors and bound calls
//===--------------------------------------------------------------------===//
void ThrowRustError(const string &function, const char *phase, char *error) {
	string message = error ? string(error) : string("unknown error");
	Api().error_free(error);
	throw InvalidInputException("%s: %s failed: %s", function, phase, message);
}

//! Like ThrowRustError, but an interrupted query reports DuckDB's own interrupt.
[[noreturn]] static void ThrowPhaseError(ClientContext &context, const string &function, const char *phase,
                                         char *error) {
	if (context.IsInterrupted()) {
		Api().error_free(error);
		throw InterruptException();
	}
	ThrowRustError(function, phase, error);
}

static int IsInterrupted(void *context) {
	return static_cast<ClientContext *>(context)->IsInterrupted() ? 1 : 0;
}

static constexpr const char *LOG_TYPE = "VGI";

//! Hands the lines an execution queued to DuckDB's logger.
static void DrainLogs(ClientContext &context, VgiExec *exec) {
	int level = 0;
	while (char *line = Api().exec_next_log(exec, &level)) {
		Logger::Get(context).WriteLog(LOG_TYPE, level == 0 ? LogLevel::LOG_DEBUG : LogLevel::LOG_INFO, line);
		Api().error_free(line);
	}
}

BoundCall::BoundCall(const VgiFunction *function_p, string name_p, uint32_t flags_p, VgiBind *bind_p,
                     unique_ptr<ArrowSchemaWrapper> output_schema_p, ImportedSchema output_p,
                     vector<LogicalType> types_p)
    : function(function_p), name(std::move(name_p)), flags(flags_p), bind(bind_p),
      output_schema(std::move(output_schema_p)), output(std::move(output_p)), types(std::move(types_p)) {
}

//! Whether two Arrow fields have the same type: format, children (with their
//! names) and dictionary.
static bool SameArrowType(const ArrowSchema &a, const ArrowSchema &b) {
	if (string(a.format) != string(b.format) || a.n_children != b.n_children ||
	    (a.dictionary == nullptr) != (b.dictionary == nullptr)) {
		return false;
	}
	for (int64_t i = 0; i < a.n_children; i++) {
		auto &x = *a.children[i];
		auto &y = *b.children[i];
		if (string(x.name ? x.name : "") != string(y.name ? y.name : "") || !SameArrowType(x, y)) {
			return false;
		}
	}
	return !a.dictionary || SameArrowType(*a.dictionary, *b.dictionary);
}

vector<LogicalType> RestoredTypes(ClientContext &context, const ArrowSchema &output_arrow,
                                  const ImportedSchema &output, const vector<LogicalType> &input_types,
                                  const vector<string> &input_names) {
	ArrowSchemaWrapper exported;
	ExportSchema(context, input_types, input_names, exported.arrow_schema);
	// What each input column's type becomes through Arrow.
	auto through_arrow = ImportSchema(context, exported.arrow_schema).types;
	auto types = output.types;
	if (NumericCast<idx_t>(output_arrow.n_children) != types.size()) {
		return types;
	}
	auto restorable = [&](idx_t output_column, idx_t input_column) {
		return input_column < input_types.size() && input_types[input_column] != through_arrow[input_column] &&
		       output.names[output_column] == input_names[input_column] &&
		       SameArrowType(*output_arrow.children[output_column], *exported.arrow_schema.children[input_column]);
	};
	for (idx_t i = 0; i < types.size(); i++) {
		// The input column at the same position first (names may repeat).
		if (restorable(i, i)) {
			types[i] = input_types[i];
			continue;
		}
		for (idx_t j = 0; j < input_types.size(); j++) {
			if (restorable(i, j)) {
				types[i] = input_types[j];
				break;
			}
		}
	}
	return types;
}

BoundCall::~BoundCall() {
	Api().bind_free(bind);
}

//===--------------------------------------------------------------------===//
// One execution's state in the store, removed at the end of the query
//===--------------------------------------------------------------------===//
//! Owns a VgiExec; Finish() removes its state from the store exactly once.
class Execution {
public:
	explicit Execution(VgiExec *exec_p) : exec(exec_p) {
	}
	~Execution() {
		Finish();
	}
	VgiExec *Get() {
		return exec;
	}
	void Finish() {
		lock_guard<mutex> guard(lock);
		if (exec) {
			Api().exec_end(exec);
			exec = nullptr;
		}
	}

private:
	mutex lock;
	VgiExec *exec;
};

//! Ends every execution a query started when the query ends, whether it
//! succeeded, failed or was interrupted.
class QueryExecutions : public ClientContextState {
public:
	void Add(shared_ptr<Execution> execution) {
		lock_guard<mutex> guard(lock);
		executions.push_back(std::move(execution));
	}
	void QueryEnd(ClientContext &context) override {
		vector<shared_ptr<Execution>> ending;
		{
			lock_guard<mutex> guard(lock);
			std::swap(ending, executions);
		}
		for (auto &execution : ending) {
			execution->Finish();
		}
	}

private:
	mutex lock;
	vector<shared_ptr<Execution>> executions;
};

//===--------------------------------------------------------------------===//
// Physical operator
//===--------------------------------------------------------------------===//
class VgiGlobalSinkState;
class VgiLocalSinkState;

class PhysicalVgiBuffering : public PhysicalOperator {
public:
	static constexpr const PhysicalOperatorType TYPE = PhysicalOperatorType::EXTENSION;

	PhysicalVgiBuffering(PhysicalPlan &plan, vector<LogicalType> types, idx_t cardinality,
	                     shared_ptr<BoundCall> call_p, vector<idx_t> input_columns_p, bool number_batches_p,
	                     vector<idx_t> projection_p)
	    : PhysicalOperator(plan, TYPE, std::move(types), cardinality), call(std::move(call_p)),
	      input_columns(std::move(input_columns_p)), number_batches(number_batches_p),
	      projection(std::move(projection_p)) {
	}

	shared_ptr<BoundCall> call;
	//! Where each input column of the function sits in the child's chunks.
	vector<idx_t> input_columns;
	//! The function needs batch indexes but the input's sources cannot supply
	//! them: sink on one thread in input order and number the chunks.
	bool number_batches;
	//! The output columns produced (empty: all), see LogicalVgiBuffering.
	vector<idx_t> projection;

	bool UsesBatchIndex() const {
		return call->HasFlag(VGI_REQUIRES_INPUT_BATCH_INDEX) && !number_batches;
	}
	bool SinksInOrder() const {
		return call->HasFlag(VGI_SINK_ORDER_DEPENDENT) || number_batches;
	}

	string GetName() const override {
		return call->name;
	}
	InsertionOrderPreservingMap<string> ParamsToString() const override {
		InsertionOrderPreservingMap<string> result;
		// EXPLAIN titles the operator by GetName(); EXPLAIN ANALYZE's profiler
		// by its type (EXTENSION), so the name goes here too.
		result["Function"] = call->name;
		if (!projection.empty()) {
			vector<string> names;
			for (auto column : projection) {
				names.push_back(call->output.names[column]);
			}
			result["Projected Columns"] = StringUtil::Join(names, ", ");
		}
		if (number_batches) {
			result["Batch Index"] = "numbered in input order";
		}
		return result;
	}

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
	SinkFinalizeType Finalize(Pipeline &pipeline, Event &event, ClientContext &context,
	                          OperatorSinkFinalizeInput &input) const override;

	// Source
	bool IsSource() const override {
		return true;
	}
	bool ParallelSource() const override {
		return !call->HasFlag(VGI_SOURCE_ORDER_DEPENDENT);
	}
	OrderPreservationType SourceOrder() const override {
		return call->HasFlag(VGI_SOURCE_ORDER_DEPENDENT) ? OrderPreservationType::FIXED_ORDER
		                                                 : OrderPreservationType::NO_ORDER;
	}
	unique_ptr<GlobalSourceState> GetGlobalSourceState(ClientContext &context) const override;
	unique_ptr<LocalSourceState> GetLocalSourceState(ExecutionContext &context,
	                                                 GlobalSourceState &gstate) const override;

protected:
	SourceResultType GetDataInternal(ExecutionContext &context, DataChunk &chunk,
	                                 OperatorSourceInput &input) const override;
};

class VgiGlobalSinkState : public GlobalSinkState {
public:
	explicit VgiGlobalSinkState(shared_ptr<Execution> execution_p) : execution(std::move(execution_p)) {
	}
	shared_ptr<Execution> execution;
	idx_t finalize_count = 0;
	idx_t batch_rows = 1;
	//! The next batch number, when the operator numbers batches itself.
	atomic<int64_t> next_batch {0};
};

class VgiLocalSinkState : public LocalSinkState {
public:
	DataChunk input;
	//! The rows gathered for the next `process` call and their batch index.
	unique_ptr<ArrowBatchBuilder> batch;
	int64_t batch_index = -1;
};

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
	auto batch_rows = ProcessBatchRows(context, call->name);
	char *error = nullptr;
	uint32_t flags = 0;
	if (Logger::Get(context).ShouldLog(LOG_TYPE, LogLevel::LOG_DEBUG)) {
		flags |= VGI_EXEC_DEBUG_LOGS;
	}
	if (!Settings::Get<EnableExternalAccessSetting>(context)) {
		flags |= VGI_EXEC_NO_EXTERNAL_ACCESS;
	}
	auto exec = Api().exec_start(call->bind, flags, &context, IsInterrupted,
	                             projection.empty() ? nullptr : projection.data(), projection.size(), &error);
	if (!exec) {
		ThrowRustError(call->name, "init", error);
	}
	auto execution = make_shared_ptr<Execution>(exec);
	// Keyed per library: each extension built on this bridge has its own class.
	context.registered_state->GetOrCreate<QueryExecutions>(OperatorExtensionName() + "/executions")->Add(execution);
	auto state = make_uniq<VgiGlobalSinkState>(std::move(execution));
	state->batch_rows = batch_rows;
	return std::move(state);
}

unique_ptr<LocalSinkState> PhysicalVgiBuffering::GetLocalSinkState(ExecutionContext &context) const {
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
	auto status = Api().exec_process(gstate.execution->Get(), &array.arrow_array, batch_index, &error);
	DrainLogs(context.client, gstate.execution->Get());
	if (status != 0) {
		ThrowPhaseError(context.client, call->name, "process", error);
	}
}

SinkResultType PhysicalVgiBuffering::Sink(ExecutionContext &context, DataChunk &chunk,
                                          OperatorSinkInput &input) const {
	auto &gstate = input.global_state.Cast<VgiGlobalSinkState>();
	auto &lstate = input.local_state.Cast<VgiLocalSinkState>();
	if (chunk.size() == 0) {
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
	lstate.input.SetCardinality(chunk.size());
	lstate.batch->Append(lstate.input);
	if (lstate.batch->Rows() >= gstate.batch_rows || lstate.batch->Bytes() >= PROCESS_BATCH_MAX_BYTES) {
		Flush(context, gstate, lstate);
	}
	return SinkResultType::NEED_MORE_INPUT;
}

SinkCombineResultType PhysicalVgiBuffering::Combine(ExecutionContext &context,
                                                    OperatorSinkCombineInput &input) const {
	Flush(context, input.global_state.Cast<VgiGlobalSinkState>(), input.local_state.Cast<VgiLocalSinkState>());
	return SinkCombineResultType::FINISHED;
}

SinkFinalizeType PhysicalVgiBuffering::Finalize(Pipeline &pipeline, Event &event, ClientContext &context,
                                                OperatorSinkFinalizeInput &input) const {
	auto &gstate = input.global_state.Cast<VgiGlobalSinkState>();
	char *error = nullptr;
	size_t count = 0;
	auto status = Api().exec_combine(gstate.execution->Get(), &count, &error);
	DrainLogs(context, gstate.execution->Get());
	if (status != 0) {
		ThrowPhaseError(context, call->name, "combine", error);
	}
	gstate.finalize_count = count;
	return SinkFinalizeType::READY;
}

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
static vector<idx_t> ProducedColumns(const BoundCall &call, const vector<idx_t> &projection) {
	if (!projection.empty()) {
		return projection;
	}
	vector<idx_t> all;
	for (idx_t i = 0; i < call.types.size(); i++) {
		all.push_back(i);
	}
	return all;
}

//! Emits the reader's next rows into `chunk`; columns of a restored type
//! are emitted as imported, then cast.
static void EmitRows(ClientContext &context, const BoundCall &call, const vector<idx_t> &projection,
                     VgiLocalSourceState &lstate, DataChunk &chunk) {
	auto columns = ProducedColumns(call, projection);
	bool restored = false;
	for (auto column : columns) {
		restored = restored || call.IsRestored(column);
	}
	if (!restored) {
		lstate.reader->Emit(call.output, chunk, projection);
		return;
	}
	if (lstate.imported.ColumnCount() == 0) {
		vector<LogicalType> types;
		for (auto column : columns) {
			types.push_back(call.output.types[column]);
		}
		lstate.imported.Initialize(context, types);
	}
	lstate.reader->Emit(call.output, lstate.imported, projection);
	auto count = lstate.imported.size();
	chunk.Reset();
	for (idx_t i = 0; i < columns.size(); i++) {
		if (call.IsRestored(columns[i])) {
			VectorOperations::Cast(context, lstate.imported.data[i], chunk.data[i], count);
		} else {
			chunk.data[i].Reference(lstate.imported.data[i]);
		}
	}
	chunk.SetCardinality(count);
}

unique_ptr<GlobalSourceState> PhysicalVgiBuffering::GetGlobalSourceState(ClientContext &context) const {
	auto &sink = sink_state->Cast<VgiGlobalSinkState>();
	return make_uniq<VgiGlobalSourceState>(sink.finalize_count, ParallelSource());
}

unique_ptr<LocalSourceState> PhysicalVgiBuffering::GetLocalSourceState(ExecutionContext &context,
                                                                       GlobalSourceState &gstate) const {
	return make_uniq<VgiLocalSourceState>();
}

SourceResultType PhysicalVgiBuffering::GetDataInternal(ExecutionContext &context, DataChunk &chunk,
                                                       OperatorSourceInput &input) const {
	auto &sink = sink_state->Cast<VgiGlobalSinkState>();
	auto &gstate = input.global_state.Cast<VgiGlobalSourceState>();
	auto &lstate = input.local_state.Cast<VgiLocalSourceState>();
	while (true) {
		if (lstate.reader && !lstate.reader->Finished()) {
			EmitRows(context.client, *call, projection, lstate, chunk);
			return SourceResultType::HAVE_MORE_OUTPUT;
		}
		lstate.reader.reset();
		char *error = nullptr;
		if (lstate.producer) {
			// Released by the wrapper unless the reader takes it over.
			ArrowArrayWrapper array;
			auto status = Api().producer_next(lstate.producer, &array.arrow_array, &error);
			DrainLogs(context.client, sink.execution->Get());
			if (status < 0) {
				ThrowPhaseError(context.client, call->name, "finalize", error);
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
			chunk.SetCardinality(0);
			return SourceResultType::FINISHED;
		}
		lstate.producer = Api().exec_finalize(sink.execution->Get(), index, &error);
		DrainLogs(context.client, sink.execution->Get());
		if (!lstate.producer) {
			ThrowPhaseError(context.client, call->name, "finalize", error);
		}
	}
}

//===--------------------------------------------------------------------===//
// Logical operator
//===--------------------------------------------------------------------===//
LogicalVgiBuffering::LogicalVgiBuffering(TableIndex table_index_p, shared_ptr<BoundCall> call_p)
    : table_index(table_index_p), call(std::move(call_p)) {
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
	for (idx_t i = 0; i < call->types.size(); i++) {
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
		types.push_back(call->types[column]);
	}
}

string LogicalVgiBuffering::GetName() const {
	return call->name;
}

string LogicalVgiBuffering::GetExtensionName() const {
	return OperatorExtensionName();
}

//! Bound calls by id, for plan copies within this process.
class BoundCallIds {
public:
	uint64_t Add(const shared_ptr<BoundCall> &call) {
		lock_guard<mutex> guard(lock);
		for (auto it = calls.begin(); it != calls.end();) {
			it = it->second.expired() ? calls.erase(it) : std::next(it);
		}
		auto id = ++last_id;
		calls[id] = call;
		return id;
	}
	shared_ptr<BoundCall> Get(uint64_t id) {
		lock_guard<mutex> guard(lock);
		auto entry = calls.find(id);
		auto call = entry == calls.end() ? nullptr : entry->second.lock();
		if (!call) {
			throw SerializationException("vgi: a buffering call can only be copied within the query that bound it");
		}
		return call;
	}

private:
	mutex lock;
	uint64_t last_id = 0;
	unordered_map<uint64_t, weak_ptr<BoundCall>> calls;
};

static BoundCallIds &CallIds() {
	static BoundCallIds ids;
	return ids;
}

//! Unique per loaded library: every extension built on this bridge has its
//! own operator class and its own call ids.
static string OperatorExtensionName() {
	return "vgi@" + to_string(reinterpret_cast<uintptr_t>(&CallIds()));
}

void LogicalVgiBuffering::Serialize(Serializer &serializer) const {
	LogicalExtensionOperator::Serialize(serializer);
	serializer.WriteProperty<uint64_t>(201, "call_id", CallIds().Add(call));
	serializer.WriteProperty<idx_t>(202, "table_index", table_index.index);
	serializer.WriteProperty(203, "projection", projection);
	serializer.WriteProperty(204, "expressions", expressions);
}

//! DuckDB offers every statement that failed to bind to each operator
//! extension; this one binds no statements.
static BoundStatement BindNoStatement(ClientContext &, Binder &, OperatorExtensionInfo *, SQLStatement &) {
	return BoundStatement();
}

class VgiOperatorExtension : public OperatorExtension {
public:
	VgiOperatorExtension() {
		Bind = BindNoStatement;
	}
	std::string GetName() override {
		return OperatorExtensionName();
	}
	unique_ptr<LogicalExtensionOperator> Deserialize(Deserializer &deserializer) override {
		auto call = CallIds().Get(deserializer.ReadProperty<uint64_t>(201, "call_id"));
		auto table_index = TableIndex(deserializer.ReadProperty<idx_t>(202, "table_index"));
		auto result = make_uniq<LogicalVgiBuffering>(table_index, std::move(call));
		result->projection = deserializer.ReadProperty<vector<idx_t>>(203, "projection");
		deserializer.ReadProperty(204, "expressions", result->expressions);
		return std::move(result);
	}
};

void RegisterOperatorExtension(DatabaseInstance &db) {
	OperatorExtension::Register(DBConfig::GetConfig(db), make_shared_ptr<VgiOperatorExtension>());
}

unique_ptr<LogicalOperator> LogicalVgiBuffering::Copy(ClientContext &context) const {
	auto copy = make_uniq<LogicalVgiBuffering>(table_index, call);
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

PhysicalOperator &LogicalVgiBuffering::CreatePlan(ClientContext &context, PhysicalPlanGenerator &planner) {
	auto &child = planner.CreatePlan(*children[0]);
	// The expressions reference every input column; after column binding
	// resolution they say where each one sits in the child's chunks.
	vector<idx_t> input_columns;
	for (auto &expr : expressions) {
		if (expr->GetExpressionClass() != ExpressionClass::BOUND_REF) {
			throw InternalException("%s: input column was not resolved", call->name);
		}
		input_columns.push_back(expr->Cast<BoundReferenceExpression>().Index());
	}
	auto number_batches = call->HasFlag(VGI_REQUIRES_INPUT_BATCH_INDEX) && !child.AllSourcesSupportBatchIndex();
	auto &op = planner.Make<PhysicalVgiBuffering>(types, estimated_cardinality, call, std::move(input_columns),
	                                              number_batches, projection);
	op.children.push_back(child);
	return op;
}

} // namespace vgi
