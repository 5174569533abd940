#pragma once
// Reads of read.users and read.client_profiles for the profile routes. They return typed rows,
// not JSON: what a caller may see of a user (their own view, a counsellor's, an admin's, the
// public one) is the api's decision, and it renders the view it allows.
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "domain/time.hpp"

namespace counsel::projections {

// One row of read.users, without anything from credentials. Text the projection could not
// decrypt (an erased subject) is nullopt.
struct UserRecord {
  std::string id;
  std::string role;
  std::optional<std::string> email;
  std::optional<std::string> display_name;
  std::string status;
  std::optional<Timestamp> created_at;
  bool verified = false;
  bool two_factor_enabled = false;
  bool anonymous = false;  // a client who appears to others under their alias
  std::optional<std::string> alias;
};

// What a client tells about themself; every member is nullopt until they set it.
struct ClientProfile {
  std::optional<std::string> picture_url;
  std::optional<std::string> bio;
  std::optional<std::string> address;
  std::optional<std::string> preferences;  // the text of a JSON object
  std::optional<std::string> preferred_language;
  bool anonymous = false;
  std::optional<std::string> alias;
  std::optional<Timestamp> updated_at;
};

struct ClientRecord {
  UserRecord user;
  ClientProfile profile;  // empty (all nullopt) for a client who never saved one
};

// nullopt when there is no such user (or `id` is not a UUID).
std::optional<UserRecord> find_user_record(pqxx::connection& conn, const std::string& id);
// nullopt unless `id` names a client.
std::optional<ClientRecord> find_client(pqxx::connection& conn, const std::string& id);

}  // namespace counsel::projections
