// The query-end state: ends the executions a query started.
#pragma once

#include "duckdb.hpp"
#include "duckdb/main/client_context_state.hpp"

#include "operator/vgi_execution.hpp"

namespace vgi {

using namespace duckdb;

//! Ends every execution a query started when the query ends, whether it
//! succeeded, failed or was interrupted.
class QueryExecutions : public ClientContextState {
public:
	void Add(shared_ptr<Execution> execution);
	void QueryEnd(ClientContext &context) override;

private:
	mutex lock;
	vector<shared_ptr<Execution>> executions;
};

} // namespace vgi
