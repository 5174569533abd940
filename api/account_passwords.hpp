#pragma once
// Setting an account's password, shared by the change (POST /api/v1/auth/password) and the
// reset (POST /api/v1/auth/password/reset/confirm): the length rule, the sealed
// account.change_password command, and what follows it.
#include <string_view>

#include "api/handler_support.hpp"

namespace counsel::api {

// 8–64 code points; else 400 invalid_password naming `field` ("password", "new_password").
Expected<bool, ApiError> check_new_password(std::string_view field, std::string_view password);

// account.change_password for `user`, issued by `actor`, with the new password hashed and
// sealed with the user's subject key.
commands::Command password_change_command(AppContext& app, const HttpRequest& req,
                                          const Principal& actor, const UserId& user,
                                          std::string_view new_password);

// After the change is in the log: every refresh token of the user is revoked (whoever knew the
// old password, or stole a session, must not stay signed in), the read models catch up so the
// next sign-in on this api sees the new hash, and the answer is 204 with a Consistency-Token.
HttpResponse password_changed(AppContext& app, const UserId& user,
                              const commands::CommandResult& result);

}  // namespace counsel::api
