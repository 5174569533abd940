#include "projections/subject_export.hpp"

#include "domain/json.hpp"

namespace counsel::projections {
namespace {

// Each section is built by PostgreSQL (json_agg/row_to_json): one statement per section, the
// columns listed explicitly so nothing of anybody else's is added by a later column.
constexpr const char* kSections = R"SQL(
SELECT json_build_object(
  'account', (SELECT row_to_json(u) FROM (
      SELECT user_id AS id, role, email, display_name, status, verified, two_factor_enabled,
             anonymous, alias, created_at, suspended_at, erasure_requested_at, erasure_grounds
        FROM read.users WHERE user_id = $1::uuid) u),
  'client_profile', (SELECT row_to_json(p) FROM (
      SELECT picture_url, bio, address, preferences, preferred_language, anonymous, alias,
             updated_at
        FROM read.client_profiles WHERE user_id = $1::uuid) p),
  'counselor_profile', (SELECT row_to_json(c) FROM (
      SELECT c.display_name, c.specialties, c.languages, c.level, c.bio, c.credentials,
             c.verified, c.suspended, c.rating, c.review_count, c.time_zone, c.created_at,
             c.updated_at, a.availability
        FROM read.counselors c
        LEFT JOIN read.counselor_availability a ON a.counselor_id = c.counselor_id
       WHERE c.counselor_id = $1::uuid AND c.role = 'counselor') c),
  'sessions_as_client', (SELECT coalesce(json_agg(s ORDER BY s.start_at, s.id), '[]') FROM (
      SELECT session_id AS id, counselor_id, start_at, end_at, duration_minutes, topic, mode,
             status, late_cancellation, cancelled_by, cancellation_reason, decline_reason,
             created_at, updated_at
        FROM read.sessions WHERE client_id = $1::uuid) s),
  'sessions_as_counselor', (SELECT coalesce(json_agg(s ORDER BY s.start_at, s.id), '[]') FROM (
      SELECT session_id AS id, client_id, start_at, end_at, duration_minutes, mode, status,
             late_cancellation, cancelled_by, created_at, updated_at
        FROM read.sessions WHERE counselor_id = $1::uuid) s),
  'reviews_written', (SELECT coalesce(json_agg(r ORDER BY r.created_at, r.id), '[]') FROM (
      SELECT review_id AS id, counselor_id, session_id, rating, comment, created_at
        FROM read.reviews WHERE client_id = $1::uuid) r),
  'reviews_received', (SELECT coalesce(json_agg(r ORDER BY r.created_at, r.id), '[]') FROM (
      SELECT review_id AS id, session_id, rating, created_at
        FROM read.reviews WHERE counselor_id = $1::uuid) r),
  'patient_records', (SELECT coalesce(json_agg(p ORDER BY p.id), '[]') FROM (
      SELECT patient_id AS id, first_name, last_name, phone_no, email, ssn, address,
             allergies_and_medication, date_of_birth, added_note, about_note, sex,
             profile_picture, tags, sessions, wallet_balance_cents, created_at, updated_at
        FROM read.patients WHERE owner_id = $1::uuid) p),
  'notifications', (SELECT coalesce(json_agg(n ORDER BY n.created_at, n.id), '[]') FROM (
      SELECT notification_id AS id, kind, subject_id, data, created_at
        FROM read.notifications WHERE recipient_id = $1::uuid) n),
  'accessed_by', (SELECT coalesce(json_agg(a ORDER BY a.at, a.event_id), '[]') FROM (
      SELECT occurred_at AS at, reader_id, reader_role, what, resource_id, why, event_id
        FROM read.access_records WHERE subject_id = $1::uuid) a)
)::text
)SQL";

}  // namespace

std::optional<std::string> export_subject_json(pqxx::connection& conn, const std::string& user_id,
                                               const OpenSealed& open_own_message) {
  pqxx::read_transaction tx(conn);
  auto known = tx.exec_params("SELECT 1 FROM read.users WHERE user_id = $1::uuid", user_id);
  if (known.empty()) return std::nullopt;
  auto sections = json::parse(tx.exec_params1(kSections, user_id)[0].c_str(), nullptr, 256);
  if (!sections || !sections->IsObject()) throw std::runtime_error("export: unreadable sections");

  // Chat rooms with their messages in room order: the caller's own text opened, others' text
  // left out (theirs to export), so the archive still shows the conversation's shape.
  auto rooms = tx.exec_params(
      "SELECT room_id::text, client_id::text, counselor_id::text, session_id::text,"
      " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
      " FROM read.chat_rooms WHERE client_id = $1::uuid OR counselor_id = $1::uuid"
      " ORDER BY created_at, room_id",
      user_id);
  auto& a = sections->GetAllocator();
  json::Value room_list(rapidjson::kArrayType);
  for (const auto& room : rooms) {
    json::Value r(rapidjson::kObjectType);
    auto str = [&](const char* key, const pqxx::field& f) {
      if (f.is_null()) {
        r.AddMember(json::Value(key, a), json::Value(rapidjson::kNullType), a);
      } else {
        r.AddMember(json::Value(key, a), json::Value(f.c_str(), a), a);
      }
    };
    str("id", room[0]);
    str("client_id", room[1]);
    str("counselor_id", room[2]);
    str("session_id", room[3]);
    str("created_at", room[4]);
    json::Value messages(rapidjson::kArrayType);
    for (const auto& m :
         tx.exec_params("SELECT message_id::text, sender_id::text, content_enc, message_type,"
                        " to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                        " FROM read.chat_messages WHERE room_id = $1::uuid ORDER BY seq",
                        std::string(room[0].c_str()))) {
      json::Value msg(rapidjson::kObjectType);
      const std::string sender = m[1].c_str();
      msg.AddMember("id", json::Value(m[0].c_str(), a), a);
      msg.AddMember("sender_id", json::Value(sender.c_str(), a), a);
      msg.AddMember("message_type", json::Value(m[3].c_str(), a), a);
      msg.AddMember("sent_at", json::Value(m[4].c_str(), a), a);
      if (sender == user_id) {
        auto text = open_own_message(sender, m[2].c_str());
        msg.AddMember("content", text ? json::Value(text->c_str(), a) : json::Value(), a);
      } else {
        msg.AddMember("content", json::Value(), a);
        msg.AddMember("written_by_other", true, a);
      }
      messages.PushBack(msg, a);
    }
    r.AddMember("messages", messages, a);
    room_list.PushBack(r, a);
  }
  sections->AddMember("chat_rooms", room_list, a);
  return json::canonical(*sections);
}

}  // namespace counsel::projections
