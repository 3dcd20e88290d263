// One execution's state in the store, removed at the end of the query.
#pragma once

#include "duckdb.hpp"

#include "vgi_ffi.h"

namespace vgi {

using namespace duckdb;

//! Owns a VgiExec; Finish() removes its state from the store exactly once.
class Execution {
public:
	//! The DuckDB log type of the lines an execution records.
	static constexpr const char *LOG_TYPE = "VGI";

	explicit Execution(VgiExec *exec_p) : exec(exec_p) {
	}
	~Execution() {
		Finish();
	}
	Execution(const Execution &) = delete;
	Execution &operator=(const Execution &) = delete;

	VgiExec *Get() {
		return exec;
	}
	void Finish();
	//! Hands the lines the execution queued to DuckDB's logger.
	void DrainLogs(ClientContext &context);

private:
	mutex lock;
	VgiExec *exec;
};

} // namespace vgi
