#include "operator/vgi_execution_handle.hpp"

#include "duckdb/logging/logger.hpp"

#include "vgi_api.hpp"

namespace vgi {

void VgiExecutionHandle::Finish() {
	lock_guard<mutex> guard(lock);
	if (execution) {
		Api().execution_end(execution);
		execution = nullptr;
	}
}

void VgiExecutionHandle::DrainLogs(ClientContext &context) {
	int level = 0;
	while (char *line = Api().execution_next_log(execution, &level)) {
		Logger::Get(context).WriteLog(LOG_TYPE, level == 0 ? LogLevel::LOG_DEBUG : LogLevel::LOG_INFO, line);
		Api().error_free(line);
	}
}

} // namespace vgi
