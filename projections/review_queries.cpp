#include "projections/review_queries.hpp"

#include <algorithm>

#include "domain/json.hpp"
#include "domain/time.hpp"
#include "domain/uuid.hpp"
#include "projections/page_json.hpp"

namespace counsel::projections {
namespace {

const std::string kColumns =
    "r.review_id::text, r.counselor_id::text, r.session_id::text, r.client_id::text, r.rating,"
    " r.comment, (extract(epoch FROM r.created_at) * 1000)::int8";

enum Column { kId, kCounselor, kSession, kClient, kRating, kComment, kCreatedAt };

void write_text(json::Writer& w, std::string_view key, const pqxx::field& f) {
  json::key(w, key);
  if (f.is_null()) {
    w.Null();
  } else {
    json::write_string(w, std::string_view(f.c_str(), f.size()));
  }
}

void write_created_at(json::Writer& w, const pqxx::field& epoch_ms) {
  json::key(w, "created_at");
  json::write_string(w,
                     format_rfc3339(Timestamp{std::chrono::milliseconds{epoch_ms.as<int64_t>()}}));
}

void write_listed_review(json::Writer& w, const pqxx::row& row, bool show_reviewer) {
  w.StartObject();
  write_text(w, "id", row[kId]);
  json::key(w, "rating");
  w.Int(row[kRating].as<int>());
  write_text(w, "comment", row[kComment]);
  write_created_at(w, row[kCreatedAt]);
  if (show_reviewer) {
    write_text(w, "client_id", row[kClient]);
    write_text(w, "session_id", row[kSession]);
  }
  w.EndObject();
}

}  // namespace

std::string list_reviews(pqxx::connection& conn, const ReviewListQuery& query) {
  const int page = std::max(query.page, 1);
  const int per_page = std::clamp(query.per_page, 1, kMaxPerPage);
  int64_t total = 0;
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  if (Uuid::parse(query.counselor_id)) {
    pqxx::read_transaction tx(conn);
    total = tx.exec_params1("SELECT count(*) FROM read.reviews WHERE counselor_id = $1::uuid",
                            query.counselor_id)[0]
                .as<int64_t>();
    const auto rows =
        tx.exec_params("SELECT " + kColumns +
                           " FROM read.reviews r WHERE r.counselor_id = $1::uuid"
                           " ORDER BY r.created_at DESC, r.review_id DESC LIMIT $2 OFFSET $3",
                       query.counselor_id, per_page, static_cast<int64_t>(page - 1) * per_page);
    for (const auto& row : rows) write_listed_review(w, row, query.show_reviewer);
  }
  w.EndArray();
  json::key(w, "count");
  w.Int64(total);
  write_page_members(w, total, page, per_page);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<std::string> find_review_of_session(pqxx::connection& conn,
                                                  const std::string& session_id) {
  if (!Uuid::parse(session_id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT " + kColumns + " FROM read.reviews r WHERE r.session_id = $1::uuid", session_id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  write_text(w, "id", row[kId]);
  write_text(w, "counselor_id", row[kCounselor]);
  write_text(w, "session_id", row[kSession]);
  json::key(w, "rating");
  w.Int(row[kRating].as<int>());
  write_text(w, "comment", row[kComment]);
  write_created_at(w, row[kCreatedAt]);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace counsel::projections
