#pragma once
// What the platform holds about one person (POPIA s23 access request, GET /api/v1/me/export),
// read from the read models: their account, profiles, sessions, reviews, patient records, chat
// rooms and messages, notifications, and who read their sensitive data (access_records).
//
// Only the person's own data: other people appear by id alone. Text someone else wrote (a
// counsellor's chat messages, a client's review of a counsellor, a client's session topic on a
// counsellor's calendar) is left out; its author exports it.
#include <pqxx/pqxx>

#include <functional>
#include <optional>
#include <string>

namespace counsel::projections {

// Opens a sealed chat message of `sender` (nullopt when their key is gone).
using OpenSealed =
    std::function<std::optional<std::string>(const std::string& sender, const std::string& sealed)>;

// The archive as one JSON object, or nullopt when the user is unknown to the read models.
std::optional<std::string> export_subject_json(pqxx::connection& conn, const std::string& user_id,
                                               const OpenSealed& open_own_message);

}  // namespace counsel::projections
