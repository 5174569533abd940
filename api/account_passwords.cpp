#include "api/account_passwords.hpp"

#include <pqxx/pqxx>

#include <string>

#include "api/refresh_tokens.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"

namespace counsel::api {

Expected<bool, ApiError> check_new_password(std::string_view field, std::string_view password) {
  const auto length = fields::utf8_length(password);
  if (length < 8 || length > 64)
    return unexpected(bad_request("invalid_password",
                                  std::string(field) + " must be between 8 and 64 characters."));
  return true;
}

commands::Command password_change_command(AppContext& app, const HttpRequest& req,
                                          const Principal& actor, const UserId& user,
                                          std::string_view new_password) {
  const std::string user_id = user.value().str();
  const auto key = app.keyring->get_or_create(user.value());
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "password_hash");
  json::write_string(w, crypto::encrypt_field(key, app.hasher->hash(new_password), user_id));
  json::key(w, "user_id");
  json::write_string(w, user_id);
  w.EndObject();
  return make_command(req, actor, "account.change_password", account_stream(user),
                      std::string(sb.GetString(), sb.GetSize()));
}

HttpResponse password_changed(AppContext& app, const UserId& user,
                              const commands::CommandResult& result) {
  with_db(app, [&](pqxx::connection& c) {
    refresh_tokens::revoke_all(c, user.value().str());
    return 0;
  });
  wait_for_read_models(app, result.event_positions);
  auto resp = json_response(204, "");
  resp.headers.push_back({"Consistency-Token", consistency_token(result.event_positions)});
  return resp;
}

}  // namespace counsel::api
