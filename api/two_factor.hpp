#pragma once
// Two-factor pieces shared by set-up (two_factor_handlers.cpp) and sign-in (auth_handlers.cpp).
#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <string_view>

namespace counsel::api {

// SHA-256 hex of the normalized code: what account.two_factor_enabled stores.
std::string recovery_code_hash(std::string_view code);

// Records `step` as the user's latest accepted TOTP step; false if it is not newer than the
// last one (a replayed code).
bool accept_totp_step(pqxx::connection& c, const std::string& user_id, int64_t step);

}  // namespace counsel::api
