#pragma once
// A projection turns events into the rows of its read-model tables. The runner owns the
// transaction, the checkpoints and the search_path; a projection only knows its SQL.
#include <pqxx/pqxx>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events/envelope.hpp"
#include "projections/bulk_rows.hpp"
#include "projections/field_decryptor.hpp"

namespace counsel::projections {

struct ApplyContext {
  FieldDecryptor& decryptor;
  // Projections whose rows this batch changed in a way api processes cache: the runner bumps
  // their projection.read_model_versions in the batch's transaction.
  std::set<std::string> changed{};
  // Rows projections insert in bulk (bulk_rows.hpp); apply_records writes them.
  BulkRowSet bulk{};
  // channel -> payloads to NOTIFY once the batch has committed: what the bulk writes that
  // stand returned (BulkRows::announcing_on), never a rolled-back savepoint's.
  std::map<std::string, std::vector<std::string>> announcements{};
  // Set when the runner hands the rows it inserted to its process (ProjectorRunner::
  // on_rows_returned): projections that can then return them (the sessions projection, for
  // the api's answer to a booking) do.
  bool return_rows = false;
  // tag -> what those bulk writes returned, of the writes that stand.
  std::map<std::string, std::vector<pqxx::result>> returned_rows{};
};

class Projection {
 public:
  virtual ~Projection() = default;
  // "users", "counselors", "sessions", "patients": also its key in projection.checkpoints.
  virtual std::string_view name() const = 0;
  // Unqualified names of the tables it owns (moved together by a rebuild swap).
  virtual std::vector<std::string> tables() const = 0;
  // Creates its tables and indexes (IF NOT EXISTS) in `schema`. The live read models are in
  // schema `read`; a rebuild builds into a fresh schema and swaps it in.
  virtual void create_tables(pqxx::work& tx, const std::string& schema) const = 0;
  // Those of its indexes that only the read queries use, never apply()'s own statements (nor
  // unique ones: ON CONFLICT needs them). A rebuild creates them once after the bulk load
  // rather than maintaining them row by row; an index apply() looks rows up by must not be
  // listed, or each of those look-ups becomes a scan of the table being built.
  virtual std::vector<std::string> query_only_indexes() const { return {}; }
  // True when each of its rows is written by the events of one partition only (an erasure's
  // updates aside: rare, and a conflict they cause is retried). A rebuild then loads it with
  // partitions side by side on several connections; otherwise with one connection, since
  // two would wait for, and deadlock on, each other's rows.
  virtual bool rows_are_partition_local() const { return false; }
  // Applies one event. SQL uses unqualified names: the caller sets `SET LOCAL search_path`.
  // Events of other types are ignored. Throws when the event cannot be applied (the runner
  // quarantines it). Must commute across partitions: a rebuild replays partition after
  // partition while the live projector interleaves them, and both must end equal.
  virtual void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const = 0;
  // False only for event types apply() certainly ignores: the batch then need not decode such
  // a record for this projection (a rebuild of one projection reads the whole log, and most of
  // it is other projections' events). When in doubt, true.
  virtual bool handles(std::string_view /*event_type*/) const { return true; }
};

// users, counselors, sessions, patients, chat, notifications, audit, in that order.
std::vector<std::unique_ptr<Projection>> all_projections();
std::unique_ptr<Projection> make_projection(std::string_view name);  // nullptr when unknown
std::vector<std::string> projection_names();

// Creates the live read-model tables in schema `read` if they are missing (idempotent, safe
// to call from several processes at once). The runner calls it before its first batch.
void ensure_read_models(pqxx::connection& conn);

inline constexpr const char* kReadSchema = "read";
// Live batches hold it shared, a rebuild swap holds it exclusively ("counsel" + 'P').
inline constexpr int64_t kProjectionLockKey = 0x636f756e73656c50;
inline constexpr const char* kProjectionChannel = "counsel_projection";
// The users projection announces suspensions, reinstatements and two-factor changes here
// (payload: the user id); every api process's AccountGate listens.
inline constexpr const char* kAccountStatusChannel = "counsel_account_status";
// The notifications projection announces each new notification here (payload:
// "<recipient id>:<notification id>"); every api process's NotificationRelay listens.
inline constexpr const char* kNotificationsChannel = "counsel_notifications";
// The tag of the session rows the sessions projection returns (ApplyContext::returned_rows):
// read_queries' session_columns(), one row per session inserted.
inline constexpr const char* kInsertedSessionsTag = "sessions";

}  // namespace counsel::projections
