#include "projections/chat_queries.hpp"

#include <algorithm>

#include "domain/uuid.hpp"
#include "projections/read_queries.hpp"

namespace counsel::projections {
namespace {

std::string epoch_ms(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000)::int8";
}

Timestamp time_from_epoch_ms(const pqxx::field& f) {
  return Timestamp{std::chrono::milliseconds{f.as<int64_t>()}};
}

std::optional<std::string> text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}

bool valid_uuid(const std::string& id) {
  return Uuid::parse(id).has_value();
}

// A room with both participants' names; kRoomColumnCount columns.
const std::string kRoomColumns =
    "r.room_id::text,"
    " r.client_id::text, cu.role, cu.display_name, coalesce(cu.anonymous, false), cu.alias,"
    " r.counselor_id::text, ou.role, ou.display_name, coalesce(ou.anonymous, false), ou.alias,"
    " r.session_id::text, " +
    epoch_ms("r.created_at");
constexpr int kRoomColumnCount = 13;
// Users and rooms live in different streams (partitions): a user row may lag, hence LEFT JOIN.
const std::string kRoomFrom =
    " FROM read.chat_rooms r"
    " LEFT JOIN read.users cu ON cu.user_id = r.client_id"
    " LEFT JOIN read.users ou ON ou.user_id = r.counselor_id";

const std::string kMessageColumns =
    "m.message_id::text, m.room_id::text, m.sender_id::text, m.content_enc, m.message_type, " +
    epoch_ms("m.sent_at") + ", m.seq";

ChatParticipant read_participant(const pqxx::row& row, int at, const char* role_in_room) {
  ChatParticipant p;
  p.id = row[at].c_str();
  p.role = row[at + 1].is_null() ? role_in_room : row[at + 1].c_str();
  p.display_name = text(row[at + 2]);
  p.anonymous = row[at + 3].as<bool>();
  p.alias = text(row[at + 4]);
  return p;
}

ChatRoomRecord read_room(const pqxx::row& row) {
  ChatRoomRecord r;
  r.room_id = row[0].c_str();
  r.client = read_participant(row, 1, "client");
  r.counselor = read_participant(row, 6, "counselor");
  r.session_id = text(row[11]);
  r.created_at = time_from_epoch_ms(row[12]);
  return r;
}

// The message whose columns start at `at` (kMessageColumns order); nullopt for a NULL row of
// an outer join.
std::optional<ChatMessageRecord> read_message(const pqxx::row& row, int at = 0) {
  if (row[at].is_null()) return std::nullopt;
  ChatMessageRecord m;
  m.message_id = row[at].c_str();
  m.room_id = row[at + 1].c_str();
  m.sender_id = row[at + 2].c_str();
  m.content_enc = row[at + 3].c_str();
  m.message_type = row[at + 4].c_str();
  m.sent_at = time_from_epoch_ms(row[at + 5]);
  m.seq = row[at + 6].as<int64_t>();
  return m;
}

std::vector<ChatMessageRecord> read_messages(const pqxx::result& rows) {
  std::vector<ChatMessageRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(*read_message(row));
  return out;
}

// Messages of the other participant after `user`'s read marker in room `room_column`.
std::string unread_count_sql(const std::string& room_column, const std::string& user_param) {
  return "(SELECT count(*) FROM read.chat_messages u WHERE u.room_id = " + room_column +
         " AND u.sender_id <> " + user_param +
         " AND u.seq > coalesce((SELECT cr.up_to_seq FROM read.chat_reads cr"
         " WHERE cr.room_id = " +
         room_column + " AND cr.user_id = " + user_param + "), 0))";
}

}  // namespace

std::optional<ChatRoomRecord> find_chat_room(pqxx::connection& conn, const std::string& room_id) {
  if (!valid_uuid(room_id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows =
      tx.exec_params("SELECT " + kRoomColumns + kRoomFrom + " WHERE r.room_id = $1::uuid", room_id);
  if (rows.empty()) return std::nullopt;
  return read_room(rows[0]);
}

std::optional<ChatParticipant> find_chat_participant(pqxx::connection& conn,
                                                     const std::string& user_id) {
  if (!valid_uuid(user_id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT user_id::text, role, display_name, anonymous, alias FROM read.users"
      " WHERE user_id = $1::uuid",
      user_id);
  if (rows.empty()) return std::nullopt;
  return read_participant(rows[0], 0, "client");
}

ChatRoomPage chat_rooms_of(pqxx::connection& conn, const std::string& user_id, int page,
                           int per_page) {
  ChatRoomPage out;
  if (!valid_uuid(user_id)) return out;
  page = std::max(page, 1);
  per_page = std::clamp(per_page, 1, kMaxPerPage);
  pqxx::read_transaction tx(conn);
  out.total = tx.exec_params1(
                    "SELECT count(*) FROM read.chat_rooms"
                    " WHERE client_id = $1::uuid OR counselor_id = $1::uuid",
                    user_id)[0]
                  .as<int64_t>();
  const auto rows = tx.exec_params(
      "SELECT " + kRoomColumns + ", " +
          "lm.message_id::text, lm.room_id::text, lm.sender_id::text, lm.content_enc,"
          " lm.message_type, " +
          epoch_ms("lm.sent_at") + ", lm.seq, " + unread_count_sql("r.room_id", "$1::uuid") +
          kRoomFrom +
          " LEFT JOIN LATERAL (SELECT * FROM read.chat_messages m WHERE m.room_id = r.room_id"
          "   ORDER BY m.seq DESC LIMIT 1) lm ON true"
          " WHERE r.client_id = $1::uuid OR r.counselor_id = $1::uuid"
          " ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.room_id"
          " LIMIT $2 OFFSET $3",
      user_id, per_page, static_cast<int64_t>(page - 1) * per_page);
  for (const auto& row : rows) {
    ChatRoomSummary summary{read_room(row), read_message(row, kRoomColumnCount), 0};
    summary.unread_count = row[kRoomColumnCount + 7].as<int64_t>();
    out.rooms.push_back(std::move(summary));
  }
  return out;
}

std::optional<int64_t> chat_message_seq(pqxx::connection& conn, const std::string& room_id,
                                        const std::string& message_id) {
  if (!valid_uuid(room_id) || !valid_uuid(message_id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT seq FROM read.chat_messages WHERE room_id = $1::uuid AND message_id = $2::uuid",
      room_id, message_id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<int64_t>();
}

std::optional<ChatMessageRecord> find_chat_message(pqxx::connection& conn,
                                                   const std::string& room_id,
                                                   const std::string& message_id) {
  if (!valid_uuid(room_id) || !valid_uuid(message_id)) return std::nullopt;
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params("SELECT " + kMessageColumns +
                                       " FROM read.chat_messages m"
                                       " WHERE m.room_id = $1::uuid AND m.message_id = $2::uuid",
                                   room_id, message_id);
  if (rows.empty()) return std::nullopt;
  return read_message(rows[0]);
}

std::vector<ChatMessageRecord> chat_messages_before(pqxx::connection& conn,
                                                    const std::string& room_id,
                                                    std::optional<int64_t> before_seq, int limit) {
  if (!valid_uuid(room_id) || limit < 1) return {};
  pqxx::read_transaction tx(conn);
  return read_messages(tx.exec_params("SELECT " + kMessageColumns +
                                          " FROM read.chat_messages m WHERE m.room_id = $1::uuid"
                                          " AND ($2::int8 IS NULL OR m.seq < $2::int8)"
                                          " ORDER BY m.seq DESC LIMIT $3",
                                      room_id, before_seq, limit));
}

std::vector<ChatMessageRecord> chat_messages_after(pqxx::connection& conn,
                                                   const std::string& room_id, int64_t after_seq,
                                                   int limit) {
  if (!valid_uuid(room_id) || limit < 1) return {};
  pqxx::read_transaction tx(conn);
  return read_messages(tx.exec_params("SELECT " + kMessageColumns +
                                          " FROM read.chat_messages m WHERE m.room_id = $1::uuid"
                                          " AND m.seq > $2 ORDER BY m.seq LIMIT $3",
                                      room_id, after_seq, limit));
}

ChatReadState chat_read_state(pqxx::connection& conn, const std::string& room_id,
                              const std::string& user_id) {
  ChatReadState out;
  if (!valid_uuid(room_id) || !valid_uuid(user_id)) return out;
  pqxx::read_transaction tx(conn);
  const auto row = tx.exec_params1(
      "SELECT (SELECT m.message_id::text FROM read.chat_reads cr JOIN read.chat_messages m"
      "        ON m.room_id = cr.room_id AND m.seq = cr.up_to_seq"
      "        WHERE cr.room_id = $1::uuid AND cr.user_id = $2::uuid), " +
          unread_count_sql("$1::uuid", "$2::uuid"),
      room_id, user_id);
  out.up_to = text(row[0]);
  out.unread_count = row[1].as<int64_t>();
  return out;
}

}  // namespace counsel::projections
