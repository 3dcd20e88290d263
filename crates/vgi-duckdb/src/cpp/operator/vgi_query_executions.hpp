// The query-end state: ends the executions a query started.
#pragma once

#include "duckdb.hpp"
#include "duckdb/main/client_context_state.hpp"

#include "operator/vgi_execution_handle.hpp"

namespace vgi {

using namespace duckdb;

//! Ends every execution a query started when the query ends, whether it
//! succeeded, failed or was interrupted.
class VgiQueryExecutions : public ClientContextState {
public:
	void Add(shared_ptr<VgiExecutionHandle> execution);
	void QueryEnd(ClientContext &context) override;

private:
	mutex lock;
	vector<shared_ptr<VgiExecutionHandle>> executions;
};

} // namespace vgi
