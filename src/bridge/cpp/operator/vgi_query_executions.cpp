#include "operator/vgi_query_executions.hpp"

namespace vgi {

void QueryExecutions::Add(shared_ptr<Execution> execution) {
	lock_guard<mutex> guard(lock);
	executions.push_back(std::move(execution));
}

void QueryExecutions::QueryEnd(ClientContext &context) {
	vector<shared_ptr<Execution>> ending;
	{
		lock_guard<mutex> guard(lock);
		std::swap(ending, executions);
	}
	for (auto &execution : ending) {
		execution->Finish();
	}
}

} // namespace vgi
