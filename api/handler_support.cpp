#include "api/handler_support.hpp"

#include <charconv>

#include "domain/events/envelope.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/jwt.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "projections/account_gate.hpp"
#include "projections/consistency.hpp"

namespace counsel::api {

RouteHandler wrap(AppContext& app, Handler h) {
  return [&app, h = std::move(h)](const HttpRequest& req, const PathParams& params) {
    try {
      auto r = h(app, req, params);
      if (r) return std::move(*r);
      return problem_response(r.error(), req.path);
    } catch (const pg::PgUnavailable& e) {
      logging::warn("api", std::string("database unavailable: ") + e.what());
      return problem_response(
          unavailable("database_unavailable", "The database is unreachable; retry shortly."),
          req.path);
    } catch (const pqxx::broken_connection& e) {
      logging::warn("api", std::string("database connection lost: ") + e.what());
      return problem_response(
          unavailable("database_unavailable", "The database is unreachable; retry shortly."),
          req.path);
    } catch (const crypto::SubjectErased&) {
      // Something would have to be sealed for a person who was erased: nothing may be.
      return problem_response(gone("subject_erased", "The person this concerns has been erased."),
                              req.path);
    }
  };
}

Expected<bool, ApiError> record_access(AppContext& app, const std::vector<AccessRecord>& records) {
  if (!app.access || records.empty()) return true;
  if (app.access->record(records)) return true;
  auto e = unavailable("access_log_unavailable",
                       "Reads of sensitive records are paused until the access log catches up.");
  e.headers.push_back({"Retry-After", "1"});
  return unexpected(e);
}

RouteHandler wrap_authed(AppContext& app, AuthedHandler h) {
  return wrap(app,
              [h = std::move(h)](AppContext& a, const HttpRequest& req,
                                 const PathParams& params) -> HandlerResult {
                auto who = authenticate(a, req);
                if (!who) return unexpected(who.error());
                return h(a, req, params, *who);
              });
}

namespace {

Expected<Principal, ApiError> verify_caller(const AppContext& app, const HttpRequest& req) {
  auto header = req.header("authorization");
  if (!header)
    return unexpected(unauthorized("not_authenticated", "This endpoint needs a bearer token."));
  std::string_view h = *header;
  constexpr std::string_view prefix = "Bearer ";
  if (h.size() <= prefix.size() || !(h.substr(0, 7) == "Bearer " || h.substr(0, 7) == "bearer "))
    return unexpected(unauthorized("invalid_token", "Use 'Authorization: Bearer <token>'."));
  auto claims = crypto::verify_jwt(h.substr(prefix.size()), app.jwt_secret, now_utc());
  if (!claims) return unexpected(unauthorized("invalid_token", "The token is invalid or expired."));
  auto id = Uuid::parse(claims->sub);
  auto role = parse_role(claims->role);
  if (!id || !role || *role == Role::system)
    return unexpected(unauthorized("invalid_token", "The token is invalid."));
  if (app.gate) {
    switch (app.gate->check(claims->sub, *role, claims->iat)) {
      case projections::AccessVerdict::allowed:
        break;
      case projections::AccessVerdict::suspended:
        return unexpected(forbidden("account_suspended", "This account is suspended."));
      case projections::AccessVerdict::revoked:
        return unexpected(unauthorized("invalid_token", "This token was revoked; sign in again."));
      case projections::AccessVerdict::two_factor_setup_required:
        if (!req.path.starts_with("/api/v1/auth/2fa/"))
          return unexpected(forbidden("two_factor_setup_required",
                                      "Set up two-factor authentication first "
                                      "(POST /api/v1/auth/2fa/setup, then /confirm)."));
        break;
    }
  }
  return Principal{UserId{*id}, *role};
}

}  // namespace

Expected<Principal, ApiError> authenticate(const AppContext& app, const HttpRequest& req) {
  if (const AuthOutcome* known = req.auth.get()) return known->principal;
  auto outcome = std::make_shared<const AuthOutcome>(AuthOutcome{verify_caller(app, req)});
  req.auth.set(outcome);
  return outcome->principal;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Expected<json::Document, ApiError> parse_object_body(const HttpRequest& req) {
  if (req.body.empty()) return unexpected(bad_request("invalid_json", "A JSON body is required."));
  json::ParseError error;
  auto doc = json::parse(req.body, &error, 32);
  if (!doc) return unexpected(bad_request("invalid_json", error.message));
  if (!doc->IsObject())
    return unexpected(bad_request("invalid_json", "The body must be a JSON object."));
  return std::move(*doc);
}

Expected<std::optional<int64_t>, ApiError> query_int(const HttpRequest& req, std::string_view name,
                                                     int64_t min, int64_t max) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::optional<int64_t>{};
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size() || out < min || out > max)
    return unexpected(
        bad_request("invalid_parameter", std::string(name) + " must be an integer between " +
                                             std::to_string(min) + " and " + std::to_string(max)));
  return std::optional<int64_t>{out};
}

Expected<std::optional<Timestamp>, ApiError> query_time(const HttpRequest& req,
                                                        std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::optional<Timestamp>{};
  if (auto t = parse_rfc3339(*v)) return std::optional<Timestamp>{*t};
  if (auto d = parse_date(*v))
    return std::optional<Timestamp>{
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::sys_days{*d})};
  return unexpected(bad_request(
      "invalid_parameter", std::string(name) + " must be an RFC 3339 time or a YYYY-MM-DD date"));
}

Expected<UserId, ApiError> path_user_id(const PathParams& params, std::string_view name,
                                        std::string_view not_found_code) {
  auto v = params.get(name);
  auto id = v ? Uuid::parse(*v) : std::nullopt;
  if (!id) return unexpected(not_found(std::string(not_found_code), "No such resource."));
  return UserId{*id};
}

Uuid uuid_from_text(std::string_view text) {
  auto digest = sha256_hex(text);
  Uuid u;
  for (size_t i = 0; i < 16; ++i)
    u.bytes[i] = static_cast<uint8_t>(std::stoi(digest.substr(i * 2, 2), nullptr, 16));
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0F) | 0x80);  // version 8 (custom)
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3F) | 0x80);
  return u;
}

std::optional<std::string_view> idempotency_key(const HttpRequest& req) {
  auto key = req.header("idempotency-key");
  if (!key || key->empty() || key->size() > 200) return std::nullopt;
  return key;
}

commands::Command make_command(const HttpRequest& req, const Principal& who, std::string type,
                               std::string stream, std::string data_json) {
  commands::Command c;
  if (auto key = idempotency_key(req)) {
    // Same caller + same key + same command type + same stream ⇒ same command id, so a retry
    // dedupes. The stream is part of it: a client reusing one key for another resource (another
    // counsellor's calendar, another room) must not be answered with the first one's outcome.
    c.id = CommandId{
        uuid_from_text(who.id.value().str() + "|" + type + "|" + stream + "|" + std::string(*key))};
  } else {
    c.id = CommandId{new_uuid_v7()};
  }
  c.type = std::move(type);
  c.stream = std::move(stream);
  c.actor = who.actor();
  c.correlation_id = CorrelationId{new_uuid_v7()};
  c.issued_at = now_utc();
  c.data_json = std::move(data_json);
  return c;
}

Expected<commands::CommandResult, ApiError> run_command(AppContext& app,
                                                        const commands::Command& cmd) {
  auto r = app.bus->submit(cmd, std::chrono::milliseconds(app.config.command_timeout_ms));
  if (!r) {
    auto e = unavailable(
        r.error().failure == SubmitFailure::timed_out ? "command_timeout" : "log_unavailable",
        r.error().message);
    e.headers.push_back({"Retry-After", "1"});
    return unexpected(e);
  }
  if (!r->accepted) {
    Rejection rej = r->rejection.value_or(Rejection{RejectionKind::invalid, "rejected", ""});
    return unexpected(from_rejection(rej));
  }
  return std::move(*r);
}

std::string consistency_token(const std::vector<log::Position>& positions) {
  std::string out;
  for (auto& p : positions) {
    if (!out.empty()) out += ',';
    out += std::to_string(p.partition.value()) + "." + std::to_string(p.offset.value());
  }
  return out;
}

std::optional<std::vector<log::Position>> parse_consistency_token(std::string_view token) {
  std::vector<log::Position> out;
  while (!token.empty()) {
    auto comma = token.find(',');
    auto part = token.substr(0, comma);
    auto dot = part.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    int32_t p = 0;
    int64_t o = 0;
    auto r1 = std::from_chars(part.data(), part.data() + dot, p);
    auto r2 = std::from_chars(part.data() + dot + 1, part.data() + part.size(), o);
    if (r1.ec != std::errc() || r1.ptr != part.data() + dot || r2.ec != std::errc() ||
        r2.ptr != part.data() + part.size() || p < 0 || o < 0)
      return std::nullopt;
    out.push_back({log::PartitionId{p}, log::Offset{o}});
    if (out.size() > 64) return std::nullopt;
    if (comma == std::string_view::npos) break;
    token.remove_prefix(comma + 1);
  }
  return out;
}

bool wait_for_read_models(AppContext& app, const std::vector<log::Position>& positions) {
  if (positions.empty()) return true;
  const auto timeout = std::chrono::milliseconds(app.config.consistency_wait_ms);
  if (app.watcher) return app.watcher->wait(positions, timeout);
  return projections::wait_until_reached(*app.pool, positions, timeout);
}

Expected<bool, ApiError> honour_consistency_token(AppContext& app, const HttpRequest& req) {
  auto header = req.header("consistency-token");
  if (!header || header->empty()) return true;
  auto positions = parse_consistency_token(*header);
  if (!positions)
    return unexpected(bad_request("invalid_consistency_token",
                                  "Consistency-Token must be the value a command response gave."));
  return wait_for_read_models(app, *positions);
}

}  // namespace counsel::api
