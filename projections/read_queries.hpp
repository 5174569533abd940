#pragma once
// The queries the api answers from the read models (schema `read`). JSON results are ready
// to send; times are RFC 3339 UTC. Ids arrive as text; a malformed id finds nothing.
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/time.hpp"
#include "infra/log/log.hpp"

namespace counsel::projections {

inline constexpr int kDefaultPerPage = 20;
inline constexpr int kMaxPerPage = 100;

// Empty strings mean "no filter". Filters are case-insensitive. page >= 1, per_page 1..100
// (clamped; the api rejects out-of-range values before calling).
struct CounselorFilter {
  std::string specialty;
  std::string language;
  std::string level;
  std::string q;  // free text over name, bio and specialties
  int page = 1;
  int per_page = kDefaultPerPage;
  std::string sort = "name";  // "name" | "rating" (best first)
};

// {results: [{id, display_name, specialties, languages, level, bio, rating, review_count,
//  verified, time_zone, has_availability}], total, page, per_page, total_pages, has_next,
//  has_previous}
std::string search_counselors(pqxx::connection& conn, const CounselorFilter& filter);
// One counsellor object as in search results; nullopt if there is no such counsellor.
// Unverified or suspended counsellors are found only with include_unlisted (themself, admin).
std::optional<std::string> get_counselor(pqxx::connection& conn, const std::string& id,
                                         bool include_unlisted = false);

// {slots: [{start, end}]}: free, bookable slots starting in [from, to); nullopt if there is
// no such counsellor. A counsellor without availability has no slots.
std::optional<std::string> counselor_slots(pqxx::connection& conn, const std::string& id,
                                           Timestamp from, Timestamp to,
                                           std::chrono::minutes duration, Timestamp now);

struct SessionFilter {
  std::string status;             // empty: any
  std::optional<Timestamp> from;  // sessions starting at or after
  std::optional<Timestamp> to;    // sessions starting before
  int page = 1;
  int per_page = kDefaultPerPage;
};

// A page of the sessions where `user_id` is the client or the counsellor, ordered by start.
// Session object: {id, counselor_id, client_id, start, end, duration_minutes, topic, mode,
// status, late_cancellation, cancelled_by, cancellation_reason, decline_reason, created_at,
// updated_at}.
std::string list_sessions_for_user(pqxx::connection& conn, const std::string& user_id,
                                   const SessionFilter& filter);

struct SessionView {
  std::string json;  // the session object
  std::string counselor_id;
  std::string client_id;
  std::string status;
};
// The api decides who may see it (participants).
std::optional<SessionView> get_session(pqxx::connection& conn, const std::string& id);
// What get_session selects, as expressions over `s` (the sessions table, or an INSERT's
// target named so, for its RETURNING), and the view of one row of them.
const std::string& session_columns();
SessionView session_view(const pqxx::row& row);

// {id, email, role, display_name, status, created_at}: the user's own view.
std::optional<std::string> find_user_by_id(pqxx::connection& conn, const std::string& id);
// {id, role, display_name}: what anyone signed in may see.
std::optional<std::string> find_public_user(pqxx::connection& conn, const std::string& id);

struct CredentialsView {
  std::string user_id;
  std::string role;
  std::string password_hash;  // empty if erased
  std::string status;
  bool two_factor_enabled = false;
  std::string totp_secret_enc;  // still encrypted with the subject key; "" without two-factor
  std::string email;            // "" if erased
};
std::optional<CredentialsView> find_credentials_by_email_hash(pqxx::connection& conn,
                                                              const std::string& email_hash);
std::optional<CredentialsView> find_credentials_by_user_id(pqxx::connection& conn,
                                                           const std::string& user_id);

// Per projection: sum over partitions of (end offset - checkpoint), never negative.
// `end_offsets` holds the events log end offset of every partition.
std::map<std::string, int64_t> projection_lag(pqxx::connection& conn,
                                              const std::vector<log::Position>& end_offsets);

}  // namespace counsel::projections
