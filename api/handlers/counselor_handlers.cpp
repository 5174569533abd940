// /api/v1/counselors: search, profile, availability and free slots.
#include <pqxx/pqxx>

#include "api/handler_support.hpp"
#include "api/read_model_cache.hpp"
#include "infra/random_ids.hpp"
#include "projections/consistency.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

// Profile and availability belong to the counsellor alone.
Expected<UserId, ApiError> own_counselor_id(const PathParams& params, const Principal& who) {
  auto id = path_user_id(params, "id", "counselor_not_found");
  if (!id) return unexpected(id.error());
  if (who.role != Role::counselor || who.id != *id)
    return unexpected(forbidden("forbidden", "Only this counsellor may change it."));
  return *id;
}

HandlerResult command_response(AppContext& app, const commands::CommandResult& result) {
  wait_for_read_models(app, result.event_positions);
  auto resp = json_response(200, result.body_json);
  resp.headers.push_back({"Consistency-Token", consistency_token(result.event_positions)});
  return resp;
}

HandlerResult put_profile(AppContext& app, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  auto id = own_counselor_id(params, who);
  if (!id) return unexpected(id.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto cmd = make_command(req, who, "counselor.update_profile", counselor_stream(*id),
                          json::to_string(*body));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  return command_response(app, *result);
}

HandlerResult put_availability(AppContext& app, const HttpRequest& req, const PathParams& params,
                               const Principal& who) {
  auto id = own_counselor_id(params, who);
  if (!id) return unexpected(id.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto cmd = make_command(req, who, "counselor.set_availability", counselor_stream(*id),
                          json::to_string(*body));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  return command_response(app, *result);
}

// Every field of the filter, each length-prefixed so no two filters share a key.
std::string counselor_search_key(const projections::CounselorFilter& f) {
  std::string key;
  for (const std::string* part : {&f.specialty, &f.language, &f.level, &f.q, &f.sort}) {
    key += std::to_string(part->size());
    key += ':';
    key += *part;
  }
  key += std::to_string(f.page) + '/' + std::to_string(f.per_page);
  return key;
}

HandlerResult list_counselors(AppContext& app, const HttpRequest& req, const PathParams&,
                              const Principal&) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto page = query_int(req, "page", 1, 1000000);
  auto per_page = query_int(req, "per_page", 1, 100);
  if (!page) return unexpected(page.error());
  if (!per_page) return unexpected(per_page.error());
  projections::CounselorFilter f;
  auto text = [&](std::string_view name, size_t max) -> Expected<std::string, ApiError> {
    auto v = req.query_param(name);
    if (!v) return std::string();
    if (v->size() > max)
      return unexpected(bad_request("invalid_parameter", std::string(name) + " is too long."));
    return std::string(*v);
  };
  auto specialty = text("specialty", 64);
  auto language = text("language", 64);
  auto level = text("level", 40);
  auto q = text("q", 200);
  auto sort = text("sort", 20);
  for (auto* e : {&specialty, &language, &level, &q, &sort})
    if (!*e) return unexpected(e->error());
  if (!sort->empty() && *sort != "name" && *sort != "rating" && *sort != "-rating")
    return unexpected(bad_request("invalid_parameter", "sort must be 'name' or 'rating'."));
  f.specialty = *specialty;
  f.language = *language;
  f.level = *level;
  f.q = *q;
  f.sort = sort->empty() ? "name" : (*sort == "-rating" ? "rating" : *sort);
  f.page = static_cast<int>(page->value_or(1));
  f.per_page = static_cast<int>(per_page->value_or(20));
  // Served from the api process's cache while the counselors read model is unchanged. Read
  // after the Consistency-Token wait, the version includes the caller's own changes; a wait
  // that timed out cannot vouch for it, so such a request queries.
  const auto version = app.counselor_search_cache && app.watcher && *waited
                           ? app.watcher->version("counselors")
                           : std::nullopt;
  const std::string key = version ? counselor_search_key(f) : std::string();
  if (version) {
    if (auto hit = app.counselor_search_cache->find(key, *version))
      return json_response(200, std::move(*hit));
  }
  auto json_page =
      with_db(app, [&](pqxx::connection& c) { return projections::search_counselors(c, f); });
  if (version) app.counselor_search_cache->store(key, *version, json_page);
  return json_response(200, json_page);
}

HandlerResult get_counselor(AppContext& app, const HttpRequest& req, const PathParams& params,
                            const Principal& who) {
  auto id = path_user_id(params, "id", "counselor_not_found");
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  // Unverified and suspended counsellors are unlisted: only they and admins see the profile.
  const bool include_unlisted = who.id == *id || who.role == Role::admin;
  auto c = with_db(app, [&](pqxx::connection& conn) {
    return projections::get_counselor(conn, id->value().str(), include_unlisted);
  });
  if (!c) return unexpected(not_found("counselor_not_found", "No such counsellor."));
  return json_response(200, *c);
}

HandlerResult get_slots(AppContext& app, const HttpRequest& req, const PathParams& params,
                        const Principal& who) {
  using namespace std::chrono;
  auto id = path_user_id(params, "id", "counselor_not_found");
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto from = query_time(req, "from");
  auto to = query_time(req, "to");
  auto duration = query_int(req, "duration_minutes", 15, 240);
  if (!from) return unexpected(from.error());
  if (!to) return unexpected(to.error());
  if (!duration) return unexpected(duration.error());
  Timestamp now = now_utc();
  Timestamp start = from->value_or(now);
  Timestamp end = to->value_or(start + days(7));
  if (end <= start) return unexpected(bad_request("invalid_parameter", "to must be after from."));
  if (end - start > days(62))
    return unexpected(bad_request("invalid_parameter", "from..to may span at most 62 days."));
  // Unlisted counsellors offer no slots to others, as their profile is not shown either.
  const bool include_unlisted = who.id == *id || who.role == Role::admin;
  auto slots = with_db(app, [&](pqxx::connection& c) -> std::optional<std::string> {
    if (!projections::get_counselor(c, id->value().str(), include_unlisted)) return std::nullopt;
    return projections::counselor_slots(c, id->value().str(), start, end,
                                        minutes(duration->value_or(60)), now);
  });
  if (!slots) return unexpected(not_found("counselor_not_found", "No such counsellor."));
  return json_response(200, *slots);
}

}  // namespace

void register_counselor_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/counselors", wrap_authed(app, list_counselors));
  router.add("GET", "/api/v1/counselors/{id}", wrap_authed(app, get_counselor));
  router.add("GET", "/api/v1/counselors/{id}/slots", wrap_authed(app, get_slots));
  router.add("PUT", "/api/v1/counselors/{id}/profile", wrap_authed(app, put_profile));
  router.add("PUT", "/api/v1/counselors/{id}/availability", wrap_authed(app, put_availability));
}

}  // namespace counsel::api
