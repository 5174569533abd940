#include "projections/audit_queries.hpp"

#include <algorithm>

#include "domain/json.hpp"
#include "projections/like_pattern.hpp"
#include "projections/page_json.hpp"

namespace counsel::projections {

std::string search_audit_events(pqxx::connection& conn, const AuditFilter& filter) {
  const int page = std::max(filter.page, 1);
  const int per_page = std::clamp(filter.per_page, 1, 200);
  // "session.*" is a prefix; any other value an exact type. LIKE wildcards in the type are
  // escaped so only the trailing '*' widens the match.
  std::string type_pattern;
  if (!filter.type.empty()) {
    std::string_view base = filter.type;
    const bool prefix = base.ends_with("*");
    if (prefix) base.remove_suffix(1);
    type_pattern = escape_like(base) + (prefix ? "%" : "");
  }
  const std::string from = filter.from ? format_rfc3339(*filter.from) : "";
  const std::string to = filter.to ? format_rfc3339(*filter.to) : "";
  const std::string where =
      " FROM read.audit_events a WHERE ($1 = '' OR a.actor_id = nullif($1, '')::uuid)"
      " AND ($2 = '' OR a.subjects @> ARRAY[nullif($2, '')::uuid])"
      " AND ($3 = '' OR a.type LIKE $3)"
      " AND ($4 = '' OR a.occurred_at >= nullif($4, '')::timestamptz)"
      " AND ($5 = '' OR a.occurred_at < nullif($5, '')::timestamptz)";
  pqxx::read_transaction tx(conn);
  const auto total = tx.exec_params1("SELECT count(*)" + where, filter.actor, filter.subject,
                                     type_pattern, from, to)[0]
                         .as<int64_t>();
  const auto rows = tx.exec_params(
      "SELECT a.event_id::text, a.type, a.stream, a.sequence, a.partition,"
      " (extract(epoch FROM a.occurred_at) * 1000)::int8, a.actor_id::text, a.actor_role,"
      " to_json(a.subjects)::text" +
          where + " ORDER BY a.occurred_at, a.event_id LIMIT $6 OFFSET $7",
      filter.actor, filter.subject, type_pattern, from, to, per_page,
      static_cast<int64_t>(page - 1) * per_page);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  for (const auto& row : rows) {
    w.StartObject();
    json::key(w, "event_id");
    json::write_string(w, row[0].c_str());
    json::key(w, "type");
    json::write_string(w, row[1].c_str());
    json::key(w, "stream");
    json::write_string(w, row[2].c_str());
    json::key(w, "sequence");
    w.Int64(row[3].as<int64_t>());
    json::key(w, "partition");
    w.Int(row[4].as<int>());
    json::key(w, "occurred_at");
    json::write_string(w,
                       format_rfc3339(Timestamp{std::chrono::milliseconds{row[5].as<int64_t>()}}));
    json::key(w, "actor");
    w.StartObject();
    json::key(w, "id");
    json::write_string(w, row[6].c_str());
    json::key(w, "role");
    json::write_string(w, row[7].c_str());
    w.EndObject();
    json::key(w, "subjects");
    w.RawValue(row[8].c_str(), row[8].size(), rapidjson::kArrayType);
    w.EndObject();
  }
  w.EndArray();
  write_page_members(w, total, page, per_page);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace counsel::projections
