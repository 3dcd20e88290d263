// vgi_store_gc(): removes the store state of processes that died mid-query
// (older than vgi_orphan_ttl_seconds, or `ttl_seconds := n`) and returns
// what it removed, and what it could not remove with the reason (`error`).
#include "duckdb.hpp"
#include "duckdb/function/table_function.hpp"
#include "duckdb/main/extension/extension_loader.hpp"
#include "duckdb/parser/parsed_data/create_table_function_info.hpp"

#include "arrow/vgi_arrow.hpp"
#include "function/vgi_store_gc.hpp"
#include "vgi_api.hpp"

namespace vgi {

static constexpr const char *TTL_SETTING = "vgi_orphan_ttl_seconds";

struct StoreGcInfo : public TableFunctionInfo {
	explicit StoreGcInfo(shared_ptr<VgiRegistryHandle> registry_p) : registry(std::move(registry_p)) {
	}
	shared_ptr<VgiRegistryHandle> registry;
};

struct StoreGcBind : public TableFunctionData {
	shared_ptr<VgiRegistryHandle> registry;
	int64_t ttl_seconds = 0;
};

struct StoreGcState : public GlobalTableFunctionState {
	ImportedSchema schema;
	unique_ptr<ArrowSchemaWrapper> arrow_schema;
	unique_ptr<ArrowBatchReader> reader;
};

static unique_ptr<FunctionData> Bind(ClientContext &context, TableFunctionBindInput &input,
                                     vector<LogicalType> &return_types, vector<Identifier> &names) {
	auto result = make_uniq<StoreGcBind>();
	result->registry = input.info->Cast<StoreGcInfo>().registry;
	auto entry = input.named_parameters.find(Identifier("ttl_seconds"));
	if (entry != input.named_parameters.end() && !entry->second.IsNull()) {
		result->ttl_seconds = entry->second.GetValue<int64_t>();
	} else {
		Value ttl;
		context.TryGetCurrentSetting(Identifier(TTL_SETTING), ttl);
		result->ttl_seconds = ttl.IsNull() ? 0 : ttl.GetValue<int64_t>();
	}
	if (result->ttl_seconds < 0) {
		throw BinderException("vgi_store_gc: ttl_seconds must be >= 0, got %lld", result->ttl_seconds);
	}
	return_types = {LogicalType::VARCHAR, LogicalType::DOUBLE, LogicalType::BIGINT, LogicalType::VARCHAR};
	names = {Identifier("execution_id"), Identifier("age_seconds"), Identifier("bytes"), Identifier("error")};
	return std::move(result);
}

static unique_ptr<GlobalTableFunctionState> Init(ClientContext &context, TableFunctionInitInput &input) {
	auto &bind = input.bind_data->Cast<StoreGcBind>();
	auto state = make_uniq<StoreGcState>();
	state->arrow_schema = make_uniq<ArrowSchemaWrapper>();
	// Released by the wrapper should the import throw before the reader owns it.
	ArrowArrayWrapper array;
	char *error = nullptr;
	if (Api().registry_store_gc(bind.registry->registry, bind.ttl_seconds, &state->arrow_schema->arrow_schema,
	                            &array.arrow_array, &error) != 0) {
		ThrowRustError("vgi_store_gc", "collect", error);
	}
	state->schema = ImportSchema(context, state->arrow_schema->arrow_schema);
	state->reader = make_uniq<ArrowBatchReader>(context, array.arrow_array);
	return std::move(state);
}

static void Scan(ClientContext &, TableFunctionInput &input, DataChunk &output) {
	auto &state = input.global_state->Cast<StoreGcState>();
	if (state.reader->Finished()) {
		output.SetCardinalityUnsafe(0);
		return;
	}
	state.reader->Emit(state.schema, output);
}

void RegisterStoreGc(ExtensionLoader &loader, shared_ptr<VgiRegistryHandle> registry) {
	TableFunction function(Identifier("vgi_store_gc"), {}, Scan, Bind, Init);
	function.GetSignature().AddKeywordOnly(Identifier("ttl_seconds"), LogicalType::BIGINT, Value(LogicalType::BIGINT));
	function.function_info = make_shared_ptr<StoreGcInfo>(std::move(registry));
	CreateTableFunctionInfo info(std::move(function));
	FunctionDescription description;
	description.description = "Removes the VGI store state of executions whose process died, once older than "
	                          "vgi_orphan_ttl_seconds (or ttl_seconds), and returns what it removed";
	description.examples.push_back("SELECT * FROM vgi_store_gc(ttl_seconds := 3600)");
	info.descriptions.push_back(std::move(description));
	// Every extension built on this bridge offers it; the first one wins.
	info.on_conflict = OnCreateConflict::IGNORE_ON_CONFLICT;
	loader.RegisterFunction(std::move(info));
}

} // namespace vgi
