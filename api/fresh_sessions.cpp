#include "api/fresh_sessions.hpp"

#include "projections/read_queries.hpp"

namespace counsel::api {

void FreshSessions::add(const pqxx::result& rows) {
  // Built before the lock (on the projector's thread: about a microsecond a row).
  std::vector<std::pair<std::string, std::string>> views;
  views.reserve(rows.size());
  for (const auto& row : rows)
    views.emplace_back(row[0].c_str(), projections::session_view(row).json);
  std::lock_guard lock(mutex_);
  for (auto& [id, json] : views) {
    rows_.insert_or_assign(id, std::move(json));
    order_.push_back(std::move(id));
  }
  // Taken rows leave their ids in order_: trimmed here too, so it stays bounded.
  while (order_.size() > capacity_ || (!order_.empty() && !rows_.contains(order_.front()))) {
    if (order_.size() > capacity_) rows_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> FreshSessions::take(const std::string& session_id) {
  std::lock_guard lock(mutex_);
  auto it = rows_.find(session_id);
  if (it == rows_.end()) return std::nullopt;
  std::string json = std::move(it->second);
  rows_.erase(it);
  return json;
}

size_t FreshSessions::size() const {
  std::lock_guard lock(mutex_);
  return rows_.size();
}

}  // namespace counsel::api
