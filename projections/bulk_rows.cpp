#include "projections/bulk_rows.hpp"

#include <stdexcept>

#include "infra/pg/array_literal.hpp"
#include "projections/prepared_sql.hpp"

namespace counsel::projections {

BulkRows::BulkRows(std::string sql, size_t columns, std::vector<std::string> fixed)
    : sql_(std::move(sql)), fixed_(std::move(fixed)), columns_(columns, "{") {
  if (columns == 0) throw std::invalid_argument("bulk rows need at least one column");
}

void BulkRows::add(std::vector<std::optional<std::string>> row) {
  if (row.size() != columns_.size())
    throw std::invalid_argument("bulk row has " + std::to_string(row.size()) + " values for " +
                                std::to_string(columns_.size()) + " columns");
  for (size_t i = 0; i < row.size(); ++i)
    pg::append_array_element(columns_[i],
                             row[i] ? std::optional<std::string_view>(*row[i]) : std::nullopt);
  ++rows_;
}

void BulkRows::write(pqxx::transaction_base& tx) {
  if (rows_ == 0) return;
  std::vector<std::string> params;
  params.reserve(columns_.size() + fixed_.size());
  for (const auto& c : columns_) params.push_back(c + "}");
  for (const auto& f : fixed_) params.push_back(f);
  const std::string name = prepared_statement_name(sql_);
  tx.conn().prepare(name, sql_);
  const auto result = tx.exec_prepared(name, pqxx::prepare::make_dynamic_params(params));
  if (!miss_error_.empty()) {
    if (result.size() != 1 || result.columns() < 1 || result[0][0].is_null())
      throw std::logic_error("bulk statement does not count its misses: " + sql_);
    if (result[0][0].as<long long>() != 0) {
      clear();
      throw std::runtime_error(miss_error_);
    }
  }
  if (!announce_channel_.empty())
    for (const auto& row : result)
      if (!row[0].is_null()) announced_.push_back(row[0].as<std::string>());
  if (!returned_tag_.empty() && !result.empty()) returned_.push_back(result);
  clear();
}

BulkRows& BulkRows::returning_rows(const std::string& tag) {
  if (tag.empty()) throw std::invalid_argument("returned rows need a tag");
  if (!returned_tag_.empty() && returned_tag_ != tag)
    throw std::logic_error("bulk statement returns rows under two tags: " + sql_);
  if (!announce_channel_.empty() || !miss_error_.empty())
    throw std::logic_error("bulk statement returns rows and announces or counts misses: " + sql_);
  returned_tag_ = tag;
  return *this;
}

BulkRows& BulkRows::announcing_on(const std::string& channel) {
  if (!announce_channel_.empty() && announce_channel_ != channel)
    throw std::logic_error("bulk statement announced on two channels: " + sql_);
  if (!miss_error_.empty())
    throw std::logic_error("bulk statement both announces and counts misses: " + sql_);
  if (!returned_tag_.empty())
    throw std::logic_error("bulk statement returns rows and announces or counts misses: " + sql_);
  announce_channel_ = channel;
  return *this;
}

BulkRows& BulkRows::written_last() {
  written_last_ = true;
  return *this;
}

BulkRows& BulkRows::failing_on_misses(std::string_view error) {
  if (error.empty())
    throw std::invalid_argument("a bulk statement's miss error must say something");
  if (error == miss_error_) return *this;
  if (!announce_channel_.empty())
    throw std::logic_error("bulk statement both announces and counts misses: " + sql_);
  if (!returned_tag_.empty())
    throw std::logic_error("bulk statement returns rows and announces or counts misses: " + sql_);
  miss_error_ = error;
  return *this;
}

void BulkRows::clear() {
  for (auto& c : columns_) c = "{";
  rows_ = 0;
}

BulkRows& BulkRowSet::rows(const std::string& sql, size_t columns, std::vector<std::string> fixed) {
  auto it = by_sql_.find(sql);
  if (it == by_sql_.end())
    return by_sql_.try_emplace(sql, sql, columns, std::move(fixed)).first->second;
  if (it->second.columns() != columns || it->second.fixed() != fixed)
    throw std::logic_error("bulk statement used with other columns or fixed values: " + sql);
  return it->second;
}

void BulkRowSet::write(pqxx::transaction_base& tx) {
  for (bool last : {false, true})
    for (auto& [sql, rows] : by_sql_)
      if (rows.is_written_last() == last) rows.write(tx);
}

void BulkRowSet::clear() {
  for (auto& [sql, rows] : by_sql_) rows.clear();
}

std::map<std::string, std::vector<std::string>> BulkRowSet::take_announcements() {
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [sql, rows] : by_sql_)
    append_to(out, rows.announce_channel(), rows.take_announcements());
  return out;
}

std::map<std::string, std::vector<pqxx::result>> BulkRowSet::take_returned() {
  std::map<std::string, std::vector<pqxx::result>> out;
  for (auto& [sql, rows] : by_sql_) append_to(out, rows.returned_tag(), rows.take_returned());
  return out;
}

bool BulkRowSet::empty() const {
  for (const auto& [sql, rows] : by_sql_)
    if (rows.size()) return false;
  return true;
}

}  // namespace counsel::projections
