// One execution's state in the store, removed at the end of the query.
#pragma once

#include "duckdb.hpp"

#include "vgi_ffi.h"

namespace vgi {

using namespace duckdb;

//! Owns a VgiExecution; Finish() removes its state from the store exactly once.
class VgiExecutionHandle {
public:
	//! The DuckDB log type of the lines an execution records.
	static constexpr const char *LOG_TYPE = "VGI";

	explicit VgiExecutionHandle(VgiExecution *execution_p) : execution(execution_p) {
	}
	~VgiExecutionHandle() {
		Finish();
	}
	VgiExecutionHandle(const VgiExecutionHandle &) = delete;
	VgiExecutionHandle &operator=(const VgiExecutionHandle &) = delete;

	VgiExecution *Get() {
		return execution;
	}
	void Finish();
	//! Hands the lines the execution queued to DuckDB's logger.
	void DrainLogs(ClientContext &context);

private:
	mutex lock;
	VgiExecution *execution;
};

} // namespace vgi
