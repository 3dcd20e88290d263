#include "operator/vgi_query_executions.hpp"

namespace vgi {

void VgiQueryExecutions::Add(shared_ptr<VgiExecutionHandle> execution) {
	lock_guard<mutex> guard(lock);
	executions.push_back(std::move(execution));
}

void VgiQueryExecutions::QueryEnd(ClientContext &) {
	vector<shared_ptr<VgiExecutionHandle>> ending;
	{
		lock_guard<mutex> guard(lock);
		std::swap(ending, executions);
	}
	for (auto &execution : ending) {
		execution->Finish();
	}
}

} // namespace vgi
