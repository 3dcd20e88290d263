#include "operator/vgi_execution.hpp"

#include "duckdb/logging/logger.hpp"

#include "vgi_api.hpp"

namespace vgi {

void Execution::Finish() {
	lock_guard<mutex> guard(lock);
	if (exec) {
		Api().exec_end(exec);
		exec = nullptr;
	}
}

void Execution::DrainLogs(ClientContext &context) {
	int level = 0;
	while (char *line = Api().exec_next_log(exec, &level)) {
		Logger::Get(context).WriteLog(LOG_TYPE, level == 0 ? LogLevel::LOG_DEBUG : LogLevel::LOG_INFO, line);
		Api().error_free(line);
	}
}

} // namespace vgi
