#include "api/notification_inbox.hpp"

#include <algorithm>
#include <set>

#include "domain/json.hpp"
#include "domain/time.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "projections/checkpoints.hpp"
#include "projections/prepared_sql.hpp"

namespace counsel::api::inbox {
namespace {

// Columns read_notification() expects, of read.notifications n.
const std::string kColumns =
    "n.notification_id::text, n.recipient_id::text, n.kind, n.subject_id::text, n.data::text,"
    " (extract(epoch FROM n.created_at) * 1000)::int8,"
    " EXISTS (SELECT 1 FROM notify.notification_reads r"
    "         WHERE r.notification_id = n.notification_id),"
    " EXISTS (SELECT 1 FROM notify.outbox o WHERE o.id = n.notification_id)";

Notification read_notification(const pqxx::row& row) {
  Notification n;
  n.id = row[0].c_str();
  n.recipient_id = row[1].c_str();
  n.kind = row[2].c_str();
  n.read = row[6].as<bool>();
  n.delivered = row[7].as<bool>();
  const std::string_view data(row[4].c_str(), row[4].size());
  const Timestamp created_at{std::chrono::milliseconds{row[5].as<int64_t>()}};

  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "id");
  json::write_string(w, n.id);
  json::key(w, "kind");
  json::write_string(w, n.kind);
  json::key(w, "subject_id");
  json::write_string(w, row[3].c_str());
  json::key(w, "data");
  w.RawValue(data.data(), data.size(), rapidjson::kObjectType);
  json::key(w, "created_at");
  json::write_string(w, format_rfc3339(created_at));
  json::key(w, "read");
  w.Bool(n.read);
  w.EndObject();
  n.json.assign(sb.GetString(), sb.GetSize());
  return n;
}

}  // namespace

Expected<Page, ListFailure> list(pqxx::connection& conn, const std::string& user_id,
                                 const ListOptions& options) {
  Page page;
  if (!Uuid::parse(user_id)) return page;
  const int limit = std::clamp(options.limit, 1, kMaxLimit);
  const std::optional<Uuid>& cursor = options.after_id ? options.after_id : options.before_id;
  const bool newer = options.after_id.has_value();

  pqxx::read_transaction tx(conn, "notifications-list");
  if (cursor) {
    const auto found = tx.exec_params(
        "SELECT 1 FROM read.notifications WHERE notification_id = $1::uuid"
        " AND recipient_id = $2::uuid",
        cursor->str(), user_id);
    if (found.empty()) return unexpected(ListFailure::unknown_cursor);
  }

  std::string sql = "SELECT " + kColumns +
                    " FROM read.notifications n WHERE n.recipient_id = $1::uuid"
                    " AND (NOT $2 OR NOT EXISTS (SELECT 1 FROM notify.notification_reads r"
                    "      WHERE r.notification_id = n.notification_id))";
  if (cursor) {
    sql += std::string(" AND (n.created_at, n.notification_id) ") + (newer ? ">" : "<") +
           " (SELECT c.created_at, c.notification_id FROM read.notifications c"
           "  WHERE c.notification_id = $3::uuid)";
  } else {
    sql += " AND $3::uuid IS NULL";  // keeps the parameter list the same
  }
  // After a cursor the page is the oldest ones past it (nothing skipped between polls); it is
  // turned newest first below.
  sql += newer ? " ORDER BY n.created_at, n.notification_id"
               : " ORDER BY n.created_at DESC, n.notification_id DESC";
  sql += " LIMIT $4";
  const std::optional<std::string> cursor_text =
      cursor ? std::optional<std::string>(cursor->str()) : std::nullopt;
  const auto rows = tx.exec_params(sql, user_id, options.unread_only, cursor_text, limit + 1);
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.has_more = true;
      break;
    }
    page.items.push_back(read_notification(row));
  }
  if (newer) std::reverse(page.items.begin(), page.items.end());

  page.unread_count =
      tx.exec_params1(
            "SELECT count(*) FROM read.notifications n WHERE n.recipient_id = $1::uuid"
            " AND NOT EXISTS (SELECT 1 FROM notify.notification_reads r"
            "  WHERE r.notification_id = n.notification_id)",
            user_id)[0]
          .as<int64_t>();
  return page;
}

std::string page_json(const Page& page) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "results");
  w.StartArray();
  for (const auto& n : page.items) w.RawValue(n.json.data(), n.json.size(), rapidjson::kObjectType);
  w.EndArray();
  json::key(w, "has_more");
  w.Bool(page.has_more);
  json::key(w, "unread_count");
  w.Int64(page.unread_count);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::vector<Notification> load(pqxx::connection& conn, const std::vector<std::string>& ids) {
  std::vector<std::string> valid;
  for (const auto& id : ids)
    if (Uuid::parse(id)) valid.push_back(id);
  if (valid.empty()) return {};
  // One statement, no transaction around it (BEGIN READ ONLY and COMMIT were two more round
  // trips per batch the relay loads). Not prepared: a generic plan made while the table was
  // small kept scanning it whole as it grew (15 ms a batch in the booking bench, against 0.6).
  pqxx::nontransaction tx(conn, "notifications-load");
  static const std::string sql =
      "SELECT " + kColumns + " FROM read.notifications n WHERE n.notification_id = ANY($1::uuid[])";
  const auto rows = tx.exec_params(sql, projections::text_array_literal(valid));
  std::vector<Notification> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(read_notification(row));
  return out;
}

bool mark_read(pqxx::connection& conn, const std::string& user_id, const Uuid& notification_id) {
  if (!Uuid::parse(user_id)) return false;
  pqxx::work tx(conn, "notification-read");
  const auto mine =
      tx.exec_params1(
            "WITH mine AS (SELECT notification_id, recipient_id FROM read.notifications"
            "  WHERE notification_id = $1::uuid AND recipient_id = $2::uuid),"
            " marked AS (INSERT INTO notify.notification_reads (notification_id, user_id)"
            "  SELECT notification_id, recipient_id FROM mine"
            "  ON CONFLICT (notification_id) DO NOTHING)"
            " SELECT count(*) FROM mine",
            notification_id.str(), user_id)[0]
          .as<int64_t>();
  tx.commit();
  return mine > 0;
}

int64_t mark_all_read(pqxx::connection& conn, const std::string& user_id) {
  if (!Uuid::parse(user_id)) return 0;
  pqxx::work tx(conn, "notifications-read-all");
  const auto marked = tx.exec_params(
      "INSERT INTO notify.notification_reads (notification_id, user_id)"
      " SELECT notification_id, recipient_id FROM read.notifications"
      " WHERE recipient_id = $1::uuid"
      " ON CONFLICT (notification_id) DO NOTHING",
      user_id);
  tx.commit();
  return static_cast<int64_t>(marked.affected_rows());
}

void record_in_app_deliveries(pqxx::connection& conn, const std::vector<InAppDelivery>& deliveries,
                              crypto::SubjectKeyring& keyring) {
  // Sealed before the transaction: the keyring may need a connection of its own.
  struct Sealed {
    const InAppDelivery* delivery;
    std::string payload;
  };
  std::vector<Sealed> sealed;
  for (const auto& d : deliveries) {
    const auto recipient = Uuid::parse(d.notification->recipient_id);
    const auto key = recipient ? keyring.find(*recipient) : std::nullopt;
    if (!key) continue;  // erased: nothing may be delivered to them any more
    sealed.push_back(
        {&d, crypto::encrypt_field(*key, d.notification->json, d.notification->recipient_id)});
  }
  if (sealed.empty()) return;
  // One statement for the batch (a statement per notification was one round trip each),
  // and so no transaction around it. A notification announced twice is recorded once.
  std::vector<std::string> ids, users, templates, payloads, errors;
  std::string ok = "{";
  std::set<std::string> seen;
  for (const auto& s : sealed) {
    const Notification& n = *s.delivery->notification;
    if (!seen.insert(n.id).second) continue;
    const notify::DeliveryResult& result = s.delivery->result;
    ids.push_back(n.id);
    users.push_back(n.recipient_id);
    templates.push_back(n.kind);
    payloads.push_back(s.payload);
    errors.push_back(result.ok ? std::string() : result.error);
    if (ok.size() > 1) ok += ',';
    ok += result.ok ? 't' : 'f';
  }
  ok += '}';
  pqxx::nontransaction tx(conn, "notifications-record-in-app");
  // Only the process whose outbox row went in records the attempt.
  projections::exec_prepared_sql0(
      tx,
      "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
      "  $5::bool[], $6::text[]) AS d(id, user_id, template, payload, ok, error)),"
      " recorded AS ("
      "  INSERT INTO notify.outbox (id, user_id, channel, template, payload, attempts,"
      "   delivered_at, gave_up_at, last_error)"
      "  SELECT id, user_id, $7, template, payload, 1, CASE WHEN ok THEN now() END,"
      "   CASE WHEN ok THEN NULL ELSE now() END, NULLIF(error, '') FROM d ORDER BY id"
      "  ON CONFLICT (id) DO NOTHING RETURNING id)"
      " INSERT INTO notify.delivery_attempts (outbox_id, attempt, ok, error)"
      " SELECT d.id, 1, d.ok, NULLIF(d.error, '') FROM recorded JOIN d USING (id)",
      projections::text_array_literal(ids), projections::text_array_literal(users),
      projections::text_array_literal(templates), projections::text_array_literal(payloads), ok,
      projections::text_array_literal(errors), std::string(notify::kInAppChannel));
}

}  // namespace counsel::api::inbox
