#include "operator/vgi_operator_extension.hpp"

#include "duckdb/common/serializer/deserializer.hpp"

#include "operator/logical_vgi_buffering.hpp"

namespace vgi {

uint64_t VgiBindDataIds::Add(const shared_ptr<VgiBindData> &bind_data) {
	lock_guard<mutex> guard(lock);
	for (auto it = calls.begin(); it != calls.end();) {
		it = it->second.expired() ? calls.erase(it) : std::next(it);
	}
	auto id = ++last_id;
	calls[id] = bind_data;
	return id;
}

shared_ptr<VgiBindData> VgiBindDataIds::Get(uint64_t id) {
	lock_guard<mutex> guard(lock);
	auto entry = calls.find(id);
	auto bind_data = entry == calls.end() ? nullptr : entry->second.lock();
	if (!bind_data) {
		throw SerializationException("vgi: a buffering call can only be copied within the query that bound it");
	}
	return bind_data;
}

VgiBindDataIds &BindDataIds() {
	static VgiBindDataIds ids;
	return ids;
}

string OperatorExtensionName() {
	return "vgi@" + to_string(reinterpret_cast<uintptr_t>(&BindDataIds()));
}

//! DuckDB offers every statement that failed to bind to each operator
//! extension; this one binds no statements.
static BoundStatement BindNoStatement(ClientContext &, Binder &, OperatorExtensionInfo *, SQLStatement &) {
	return BoundStatement();
}

VgiOperatorExtension::VgiOperatorExtension() {
	Bind = BindNoStatement;
}

std::string VgiOperatorExtension::GetName() {
	return OperatorExtensionName();
}

unique_ptr<LogicalExtensionOperator> VgiOperatorExtension::Deserialize(Deserializer &deserializer) {
	auto bind_data = BindDataIds().Get(deserializer.ReadProperty<uint64_t>(201, "call_id"));
	auto table_index = TableIndex(deserializer.ReadProperty<idx_t>(202, "table_index"));
	auto result = make_uniq<LogicalVgiBuffering>(table_index, std::move(bind_data));
	result->projection = deserializer.ReadProperty<vector<idx_t>>(203, "projection");
	deserializer.ReadProperty(204, "expressions", result->expressions);
	return std::move(result);
}

void RegisterOperatorExtension(DatabaseInstance &db) {
	OperatorExtension::Register(DBConfig::GetConfig(db), make_shared_ptr<VgiOperatorExtension>());
}

} // namespace vgi
