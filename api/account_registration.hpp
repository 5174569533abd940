#pragma once
// Creating an account, shared by self-registration (POST /api/v1/auth/register), admins
// creating compliance accounts (POST /api/v1/admin/users) and the ops tool
// (`counsel users create-admin`): validation, the email claim, password hashing, encryption
// with the new subject key and the account.register command.
#include <optional>
#include <string>
#include <vector>

#include "api/handler_support.hpp"

namespace counsel::api {

struct NewAccount {
  std::string email;  // lower-cased and trimmed
  std::string password;
  std::string display_name;
  Role role = Role::client;
};

struct CreatedAccount {
  UserId id;
  NewAccount account;
  std::vector<log::Position> event_positions;
};

// email, password (8–64), display_name (1–100, defaults to the email's local part) from a body:
// 400 invalid_email / invalid_password / invalid_display_name.
Expected<NewAccount, ApiError> read_new_account(const json::Value& body, Role role);

// Claims the email (409 email_taken), then registers. `actor` is who creates the account; none
// means the new user registers themself. A request's Idempotency-Key makes a retry find its own
// claim and dedupe to the first outcome.
Expected<CreatedAccount, ApiError> register_account(AppContext& app, const HttpRequest& req,
                                                    const NewAccount& account,
                                                    std::optional<Principal> actor);

// 201 {id, email, role, display_name} with Location and Consistency-Token.
HttpResponse registered_response(const CreatedAccount& created);

}  // namespace counsel::api
