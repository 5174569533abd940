#include "api/fresh_sessions.hpp"

#include "projections/read_queries.hpp"

namespace counsel::api {

void FreshSessions::add(const pqxx::result& rows) {
  std::lock_guard lock(mutex_);
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    std::string id = rows[i][0].c_str();
    rows_.insert_or_assign(id, Row{rows, i});
    order_.push_back(std::move(id));
  }
  // Taken rows leave their ids in order_: trimmed here too, so it stays bounded.
  while (order_.size() > capacity_ || (!order_.empty() && !rows_.contains(order_.front()))) {
    if (order_.size() > capacity_) rows_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> FreshSessions::take(const std::string& session_id) {
  std::optional<Row> row;
  {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(session_id);
    if (it == rows_.end()) return std::nullopt;
    row = std::move(it->second);
    rows_.erase(it);
  }
  // Built outside the lock, on the asking thread (not the projector's).
  return projections::session_view(row->result[row->index]).json;
}

size_t FreshSessions::size() const {
  std::lock_guard lock(mutex_);
  return rows_.size();
}

}  // namespace counsel::api
