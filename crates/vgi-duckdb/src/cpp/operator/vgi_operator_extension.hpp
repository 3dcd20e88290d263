// The operator extension of the buffering operator: it reads back the plan
// copies LogicalVgiBuffering::Serialize writes.
#pragma once

#include "duckdb.hpp"
#include "duckdb/planner/operator_extension.hpp"

#include "function/vgi_bind_data.hpp"

namespace vgi {

using namespace duckdb;

//! Bind data by id, for plan copies within this process.
class VgiBindDataIds {
public:
	uint64_t Add(const shared_ptr<VgiBindData> &bind_data);
	//! The bind data of `id`; throws when it is gone (or never was).
	shared_ptr<VgiBindData> Get(uint64_t id);

private:
	mutex lock;
	uint64_t last_id = 0;
	unordered_map<uint64_t, weak_ptr<VgiBindData>> calls;
};

//! This library's bind data ids.
VgiBindDataIds &BindDataIds();

//! Unique per loaded library: every extension built on this bridge has its
//! own operator class and its own bind data ids.
string OperatorExtensionName();

class VgiOperatorExtension : public OperatorExtension {
public:
	VgiOperatorExtension();
	std::string GetName() override;
	unique_ptr<LogicalExtensionOperator> Deserialize(Deserializer &deserializer) override;
};

//! Registers the operator extension that deserializes plan copies.
void RegisterOperatorExtension(DatabaseInstance &db);

} // namespace vgi
