#include "projections/read_queries.hpp"

#include <algorithm>

#include "domain/counselor_calendar.hpp"
#include "domain/json.hpp"
#include "domain/uuid.hpp"
#include "infra/logging.hpp"
#include "projections/checkpoints.hpp"
#include "projections/like_pattern.hpp"
#include "projections/page_json.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/projection.hpp"

namespace counsel::projections {
namespace {

constexpr const char* kErasedName = "[erased]";

bool valid_uuid(const std::string& id) {
  return Uuid::parse(id).has_value();
}

int clamp_page(int page) {
  return std::max(page, 1);
}
int clamp_per_page(int per_page) {
  return std::clamp(per_page, 1, kMaxPerPage);
}

// Millisecond epoch of a timestamptz column, as selected by `epoch_ms(col)`.
std::string epoch_ms(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000)::int8";
}

Timestamp from_epoch_ms(int64_t ms) {
  return Timestamp{std::chrono::milliseconds{ms}};
}

class JsonOut {
 public:
  JsonOut() : w_(sb_) {}
  json::Writer& w() { return w_; }
  void key(std::string_view k) { json::key(w_, k); }
  void str(std::string_view k, std::string_view v) {
    key(k);
    json::write_string(w_, v);
  }
  void str_or_null(std::string_view k, const pqxx::field& f) {
    key(k);
    if (f.is_null()) {
      w_.Null();
    } else {
      json::write_string(w_, f.c_str());
    }
  }
  void time(std::string_view k, const pqxx::field& epoch_ms_field) {
    key(k);
    if (epoch_ms_field.is_null()) {
      w_.Null();
    } else {
      json::write_string(w_, format_rfc3339(from_epoch_ms(epoch_ms_field.as<int64_t>())));
    }
  }
  void raw_json(std::string_view k, const pqxx::field& f, rapidjson::Type type) {
    key(k);
    std::string_view text = f.c_str();
    w_.RawValue(text.data(), text.size(), type);
  }
  std::string text() const { return {sb_.GetString(), sb_.GetSize()}; }

 private:
  rapidjson::StringBuffer sb_;
  json::Writer w_;
};

void write_page_footer(JsonOut& out, int64_t total, int page, int per_page) {
  write_page_members(out.w(), total, page, per_page);
}

// --- counsellors -------------------------------------------------------------------------

const std::string kCounselorColumns =
    "c.counselor_id::text, c.display_name, to_json(c.specialties)::text,"
    " to_json(c.languages)::text, c.level, c.bio, c.rating::float8, c.review_count, c.verified,"
    " c.time_zone, c.has_availability, c.credentials, c.suspended";

void write_counselor(JsonOut& out, const pqxx::row& row) {
  auto& w = out.w();
  w.StartObject();
  out.str("id", row[0].c_str());
  out.str("display_name", row[1].is_null() ? kErasedName : row[1].c_str());
  out.raw_json("specialties", row[2], rapidjson::kArrayType);
  out.raw_json("languages", row[3], rapidjson::kArrayType);
  out.str_or_null("level", row[4]);
  out.str("bio", row[5].c_str());
  out.key("rating");
  if (row[6].is_null()) {
    w.Null();
  } else {
    w.Double(row[6].as<double>());
  }
  out.key("review_count");
  w.Int(row[7].as<int>());
  out.key("verified");
  w.Bool(row[8].as<bool>());
  out.str_or_null("time_zone", row[9]);
  out.key("has_availability");
  w.Bool(row[10].as<bool>());
  out.str("credentials", row[11].c_str());
  out.key("suspended");
  w.Bool(row[12].as<bool>());
  w.EndObject();
}

}  // namespace

std::string search_counselors(pqxx::connection& conn, const CounselorFilter& filter) {
  const int page = clamp_page(filter.page);
  const int per_page = clamp_per_page(filter.per_page);
  // One prepared statement per combination of filters present and sort order: an absent filter
  // is left out of the text, so each statement's plan (generic or not) fits its filters and may
  // use the GIN indexes. The page carries the total (a window count over every match) so one
  // round trip answers; only a page past the end needs a second statement for the total.
  const bool by_specialty = !filter.specialty.empty();
  const bool by_language = !filter.language.empty();
  const bool by_level = !filter.level.empty();
  const bool by_text = !filter.q.empty();
  const bool by_rating = filter.sort == "rating";
  const unsigned variant = (by_specialty ? 1u : 0u) | (by_language ? 2u : 0u) |
                           (by_level ? 4u : 0u) | (by_text ? 8u : 0u) | (by_rating ? 16u : 0u);
  struct Statements {
    std::string page_name, page_sql, count_name, count_sql;
  };
  // Parameters are numbered in the order of the filters present, then limit and offset.
  static const std::vector<Statements> statements = [] {
    std::vector<Statements> out;
    for (unsigned v = 0; v < 32; ++v) {
      int n = 0;
      auto param = [&n] {
        std::string p = "$";  // not "$" + std::string: GCC 12's -Wrestrict misfires on it
        p += std::to_string(++n);
        return p + "::text";
      };
      std::string where =
          " FROM read.counselors c WHERE c.role = 'counselor' AND c.verified AND NOT c.suspended";
      if (v & 1u) where += " AND c.specialties_lc @> ARRAY[lower(" + param() + ")]";
      if (v & 2u) where += " AND c.languages_lc @> ARRAY[lower(" + param() + ")]";
      if (v & 4u) where += " AND lower(c.level) = lower(" + param() + ")";
      if (v & 8u) {
        const std::string pattern = param();
        where += " AND (c.display_name ILIKE " + pattern + " OR c.bio ILIKE " + pattern +
                 " OR array_to_string(c.specialties, ' ') ILIKE " + pattern + ")";
      }
      const std::string order = (v & 16u)
                                    ? " ORDER BY c.rating DESC NULLS LAST, c.review_count DESC,"
                                      " lower(c.display_name) NULLS LAST, c.counselor_id"
                                    : " ORDER BY lower(c.display_name) NULLS LAST, c.counselor_id";
      Statements s;
      s.count_name = "counselor_search_count_" + std::to_string(v);
      s.count_sql = "SELECT count(*)" + where;
      s.page_name = "counselor_search_page_" + std::to_string(v);
      s.page_sql = "SELECT " + kCounselorColumns + ", count(*) OVER ()" + where + order +
                   " LIMIT $" + std::to_string(n + 1) + "::int8 OFFSET $" + std::to_string(n + 2) +
                   "::int8";
      out.push_back(std::move(s));
    }
    return out;
  }();
  const Statements& s = statements[variant];
  std::vector<std::string> params;
  params.reserve(6);
  if (by_specialty) params.push_back(filter.specialty);
  if (by_language) params.push_back(filter.language);
  if (by_level) params.push_back(filter.level);
  if (by_text) params.push_back(contains_pattern(filter.q));
  const size_t filters = params.size();
  params.push_back(std::to_string(per_page));
  params.push_back(std::to_string(static_cast<int64_t>(page - 1) * per_page));
  conn.prepare(s.page_name, s.page_sql);
  pqxx::nontransaction tx(conn);
  const auto rows = tx.exec_prepared(s.page_name, pqxx::prepare::make_dynamic_params(params));
  int64_t total = 0;
  if (!rows.empty()) {
    total = rows[0][13].as<int64_t>();
  } else if (page > 1) {
    // Past the last page: the page has no row to carry the total.
    params.resize(filters);
    conn.prepare(s.count_name, s.count_sql);
    total = tx.exec_prepared1(s.count_name, pqxx::prepare::make_dynamic_params(params))[0]
                .as<int64_t>();
  }
  JsonOut out;
  out.w().StartObject();
  out.key("results");
  out.w().StartArray();
  for (const auto& row : rows) write_counselor(out, row);
  out.w().EndArray();
  write_page_footer(out, total, page, per_page);
  out.w().EndObject();
  return out.text();
}

std::optional<std::string> get_counselor(pqxx::connection& conn, const std::string& id,
                                         bool include_unlisted) {
  if (!valid_uuid(id)) return std::nullopt;
  // One statement: no transaction around it (BEGIN and COMMIT would be two more round trips).
  pqxx::nontransaction tx(conn);
  // Prepared (prepared_sql.hpp): a booking reads it, and planning it cost more than running it.
  static const std::string sql = "SELECT " + kCounselorColumns +
                                 " FROM read.counselors c WHERE c.counselor_id = $1::uuid"
                                 " AND c.role = 'counselor'"
                                 " AND ($2 OR (c.verified AND NOT c.suspended))";
  const auto rows = exec_prepared_sql(tx, sql, id, include_unlisted);
  if (rows.empty()) return std::nullopt;
  JsonOut out;
  write_counselor(out, rows[0]);
  return out.text();
}

std::optional<std::string> counselor_slots(pqxx::connection& conn, const std::string& id,
                                           Timestamp from, Timestamp to,
                                           std::chrono::minutes duration, Timestamp now) {
  using namespace std::chrono;
  if (!valid_uuid(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto counselor = tx.exec_params(
      "SELECT a.availability::text FROM read.counselors c"
      " LEFT JOIN read.counselor_availability a ON a.counselor_id = c.counselor_id"
      " WHERE c.counselor_id = $1::uuid AND c.role = 'counselor'",
      id);
  if (counselor.empty()) return std::nullopt;

  std::vector<calendar::Interval> slots;
  if (!counselor[0][0].is_null()) {
    auto doc = json::parse(counselor[0][0].c_str(), nullptr, 64);
    auto availability = doc ? calendar::parse_availability(*doc)
                            : Expected<calendar::Availability, Rejection>(
                                  unexpected(Rejection{RejectionKind::invalid, "", ""}));
    if (!availability) {
      logging::error("read_queries", "stored availability of counselor " + id +
                                         " does not parse: " + availability.error().message);
    } else {
      // Busy sessions just outside [from, to) still matter once the buffer widens them.
      const auto busy_rows =
          tx.exec_params("SELECT " + epoch_ms("start_at") + ", " + epoch_ms("end_at") +
                             " FROM read.sessions WHERE counselor_id = $1::uuid"
                             " AND status IN ('requested', 'confirmed')"
                             " AND start_at < $3::timestamptz AND end_at > $2::timestamptz",
                         id, format_rfc3339(from - days(1)), format_rfc3339(to + days(1)));
      std::vector<calendar::Interval> busy;
      busy.reserve(busy_rows.size());
      for (const auto& r : busy_rows) {
        busy.push_back({from_epoch_ms(r[0].as<int64_t>()), from_epoch_ms(r[1].as<int64_t>())});
      }
      slots = calendar::free_slots(*availability, busy, from, to, duration, now);
    }
  }
  JsonOut out;
  auto& w = out.w();
  w.StartObject();
  out.key("slots");
  w.StartArray();
  for (const auto& s : slots) {
    w.StartObject();
    out.str("start", format_rfc3339(s.start));
    out.str("end", format_rfc3339(s.end));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out.text();
}

// --- sessions ------------------------------------------------------------------------------

namespace {

const std::string kSessionColumns =
    "s.session_id::text, s.counselor_id::text, s.client_id::text, " + epoch_ms("s.start_at") +
    ", " + epoch_ms("s.end_at") +
    ", s.duration_minutes, s.topic, s.mode, s.status, s.late_cancellation,"
    " s.cancelled_by::text, s.cancellation_reason, s.decline_reason, " +
    epoch_ms("s.created_at") + ", " + epoch_ms("s.updated_at");

void write_session(JsonOut& out, const pqxx::row& row) {
  auto& w = out.w();
  w.StartObject();
  out.str("id", row[0].c_str());
  out.str("counselor_id", row[1].c_str());
  out.str("client_id", row[2].c_str());
  out.time("start", row[3]);
  out.time("end", row[4]);
  out.key("duration_minutes");
  w.Int(row[5].as<int>());
  out.str_or_null("topic", row[6]);
  out.str("mode", row[7].c_str());
  out.str("status", row[8].c_str());
  out.key("late_cancellation");
  w.Bool(row[9].as<bool>());
  out.str_or_null("cancelled_by", row[10]);
  out.str_or_null("cancellation_reason", row[11]);
  out.str_or_null("decline_reason", row[12]);
  out.time("created_at", row[13]);
  out.time("updated_at", row[14]);
  w.EndObject();
}

std::optional<std::string> optional_time(const std::optional<Timestamp>& t) {
  if (!t) return std::nullopt;
  return format_rfc3339(*t);
}

}  // namespace

std::string list_sessions_for_user(pqxx::connection& conn, const std::string& user_id,
                                   const SessionFilter& filter) {
  const int page = clamp_page(filter.page);
  const int per_page = clamp_per_page(filter.per_page);
  JsonOut out;
  out.w().StartObject();
  out.key("results");
  out.w().StartArray();
  int64_t total = 0;
  if (valid_uuid(user_id)) {
    const std::string where =
        " FROM read.sessions s WHERE (s.client_id = $1::uuid OR s.counselor_id = $1::uuid)"
        " AND ($2 = '' OR s.status = $2)"
        " AND ($3::timestamptz IS NULL OR s.start_at >= $3::timestamptz)"
        " AND ($4::timestamptz IS NULL OR s.start_at < $4::timestamptz)";
    const auto from = optional_time(filter.from);
    const auto to = optional_time(filter.to);
    pqxx::read_transaction tx(conn);
    total = tx.exec_params1("SELECT count(*)" + where, user_id, filter.status, from, to)[0]
                .as<int64_t>();
    const auto rows = tx.exec_params("SELECT " + kSessionColumns + where +
                                         " ORDER BY s.start_at, s.session_id LIMIT $5 OFFSET $6",
                                     user_id, filter.status, from, to, per_page,
                                     static_cast<int64_t>(page - 1) * per_page);
    for (const auto& row : rows) write_session(out, row);
  }
  out.w().EndArray();
  write_page_footer(out, total, page, per_page);
  out.w().EndObject();
  return out.text();
}

std::optional<SessionView> get_session(pqxx::connection& conn, const std::string& id) {
  if (!valid_uuid(id)) return std::nullopt;
  pqxx::nontransaction tx(conn);  // one statement
  // Prepared (prepared_sql.hpp): every booking's answer reads it.
  static const std::string sql =
      "SELECT " + kSessionColumns + " FROM read.sessions s WHERE s.session_id = $1::uuid";
  const auto rows = exec_prepared_sql(tx, sql, id);
  if (rows.empty()) return std::nullopt;
  return session_view(rows[0]);
}

const std::string& session_columns() {
  return kSessionColumns;
}

SessionView session_view(const pqxx::row& row) {
  JsonOut out;
  write_session(out, row);
  return SessionView{out.text(), row[1].c_str(), row[2].c_str(), row[8].c_str()};
}

// --- users ---------------------------------------------------------------------------------

std::optional<std::string> find_user_by_id(pqxx::connection& conn, const std::string& id) {
  if (!valid_uuid(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows =
      tx.exec_params("SELECT user_id::text, email, role, display_name, status, " +
                         epoch_ms("created_at") + " FROM read.users WHERE user_id = $1::uuid",
                     id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  JsonOut out;
  out.w().StartObject();
  out.str("id", row[0].c_str());
  out.str_or_null("email", row[1]);
  out.str("role", row[2].c_str());
  out.str("display_name", row[3].is_null() ? kErasedName : row[3].c_str());
  out.str("status", row[4].c_str());
  out.time("created_at", row[5]);
  out.w().EndObject();
  return out.text();
}

std::optional<std::string> find_public_user(pqxx::connection& conn, const std::string& id) {
  if (!valid_uuid(id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT user_id::text, role, display_name FROM read.users WHERE user_id = $1::uuid", id);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  JsonOut out;
  out.w().StartObject();
  out.str("id", row[0].c_str());
  out.str("role", row[1].c_str());
  out.str("display_name", row[2].is_null() ? kErasedName : row[2].c_str());
  out.w().EndObject();
  return out.text();
}

namespace {
// `where` is a fixed condition on the credentials row with one parameter, $1.
std::optional<CredentialsView> find_credentials(pqxx::connection& conn, const char* where,
                                                const std::string& key) {
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      std::string("SELECT c.user_id::text, u.role, coalesce(c.password_hash, ''), u.status,"
                  " c.two_factor_enabled, coalesce(c.totp_secret_enc, ''), coalesce(u.email, '')"
                  " FROM read.credentials c JOIN read.users u ON u.user_id = c.user_id WHERE ") +
          where,
      key);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  return CredentialsView{row[0].c_str(),    row[1].c_str(), row[2].c_str(), row[3].c_str(),
                         row[4].as<bool>(), row[5].c_str(), row[6].c_str()};
}
}  // namespace

std::optional<CredentialsView> find_credentials_by_email_hash(pqxx::connection& conn,
                                                              const std::string& email_hash) {
  return find_credentials(conn, "c.email_hash = $1", email_hash);
}

std::optional<CredentialsView> find_credentials_by_user_id(pqxx::connection& conn,
                                                           const std::string& user_id) {
  return find_credentials(conn, "c.user_id = $1::uuid", user_id);
}

// --- status --------------------------------------------------------------------------------

std::map<std::string, int64_t> projection_lag(pqxx::connection& conn,
                                              const std::vector<log::Position>& end_offsets) {
  const auto names = projection_names();
  std::vector<int32_t> partitions;
  for (const auto& e : end_offsets) partitions.push_back(e.partition.value());
  pqxx::read_transaction tx(conn);
  const CheckpointMap checkpoints = load_checkpoints(tx, names, partitions);
  std::map<std::string, int64_t> lag;
  for (const auto& name : names) {
    int64_t sum = 0;
    for (const auto& e : end_offsets) {
      sum += std::max<int64_t>(0, e.offset.value() - checkpoints.at(name).at(e.partition.value()));
    }
    lag[name] = sum;
  }
  return lag;
}

}  // namespace counsel::projections
