// /api/v1/sessions: booking and the session state machine.
#include <pqxx/pqxx>

#include "api/fresh_sessions.hpp"
#include "api/handler_support.hpp"
#include "api/known_counselors.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/random_ids.hpp"
#include "projections/consistency.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

// The command's own answer, for when the read model has not got the session yet: the aggregate
// keeps no topic (it decides nothing by it), so a booking's first answer carries the one its
// client just gave (`topic`); any other keeps the topic null.
std::string answer_from_command(const commands::CommandResult& result,
                                const std::optional<std::string>& topic) {
  if (!topic) return result.body_json;
  json::Document body;
  body.Parse(result.body_json.c_str(), result.body_json.size());
  if (body.HasParseError() || !body.IsObject()) return result.body_json;
  body.RemoveMember("topic");
  body.AddMember("topic", json::Value(topic->c_str(), body.GetAllocator()), body.GetAllocator());
  return json::to_string(body);
}

// The session as the caller may see it, after the read models include `positions`. A fresh
// booking's (`booked`) comes from the row this process's projector just inserted when it is
// there (FreshSessions): the same columns a read would return, without the read.
HandlerResult session_response(AppContext& app, int status, const std::string& session_id,
                               const commands::CommandResult& result,
                               const std::optional<std::string>& topic = std::nullopt,
                               bool booked = false) {
  const bool reached = wait_for_read_models(app, result.event_positions);
  std::optional<std::string> found;
  if (booked && reached && app.fresh_sessions) found = app.fresh_sessions->take(session_id);
  if (!found) {
    auto view =
        with_db(app, [&](pqxx::connection& c) { return projections::get_session(c, session_id); });
    if (view) found = std::move(view->json);
  }
  HttpResponse resp = json_response(status, found ? *found : answer_from_command(result, topic));
  resp.headers.push_back({"Consistency-Token", consistency_token(result.event_positions)});
  if (status == 201) resp.headers.push_back({"Location", "/api/v1/sessions/" + session_id});
  return resp;
}

HandlerResult book(AppContext& app, const HttpRequest& req, const PathParams&,
                   const Principal& who) {
  if (who.role != Role::client)
    return unexpected(forbidden("clients_only", "Only clients book sessions."));
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto counselor_text = json::get_string(*body, "counselor_id");
  auto counselor = counselor_text ? Uuid::parse(*counselor_text) : std::nullopt;
  if (!counselor)
    return unexpected(bad_request("invalid_counselor_id", "counselor_id must be a UUID."));
  auto* topic_value = body->HasMember("topic") ? &(*body)["topic"] : nullptr;
  if (topic_value && !topic_value->IsString() && !topic_value->IsNull())
    return unexpected(bad_request("invalid_topic", "topic must be a string."));
  std::string topic = topic_value && topic_value->IsString() ? topic_value->GetString() : "";
  if (topic.size() > 1000)
    return unexpected(bad_request("invalid_topic", "topic may be at most 1000 characters."));

  // Unlisted counsellors exist too: the aggregate answers why they cannot be booked. Repeat
  // bookings of a counsellor skip the query (KnownCounselors).
  const auto known_at =
      app.known_counselors && app.watcher ? app.watcher->version("counselors") : std::nullopt;
  const bool cacheable = known_at.has_value();
  const uint64_t version = known_at.value_or(0);
  if (!cacheable || !app.known_counselors->contains(*counselor, version)) {
    const bool exists = with_db(app, [&](pqxx::connection& c) {
      return projections::get_counselor(c, counselor->str(), /*include_unlisted=*/true).has_value();
    });
    if (!exists) return unexpected(not_found("counselor_not_found", "No such counsellor."));
    if (cacheable) app.known_counselors->remember(*counselor, version);
  }

  // The topic is health information: it travels encrypted with the client's key.
  std::string client = who.id.value().str();
  auto key = app.keyring->get_or_create(who.id.value());
  json::Document data;
  data.CopyFrom(*body, data.GetAllocator());
  auto& alloc = data.GetAllocator();
  data.RemoveMember("counselor_id");
  data.RemoveMember("topic");
  data.RemoveMember("client_id");
  data.RemoveMember("session_id");
  std::string encrypted_topic = topic.empty() ? "" : crypto::encrypt_field(key, topic, client);
  data.AddMember("topic", json::Value(encrypted_topic.c_str(), alloc), alloc);
  data.AddMember("client_id", json::Value(client.c_str(), alloc), alloc);

  auto cmd = make_command(req, who, "session.request", counselor_stream(UserId{*counselor}), "{}");
  // The session id is the command id, so a retried request (same Idempotency-Key) names the
  // same session.
  std::string session_id = cmd.id.value().str();
  data.AddMember("session_id", json::Value(session_id.c_str(), alloc), alloc);
  cmd.data_json = json::to_string(data);
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  // A repeated answer (a retry under the same Idempotency-Key) may carry another topic than the
  // booking stored: only the first answer gives its own back.
  return session_response(app, 201, session_id, *result,
                          result->duplicate ? std::nullopt : std::optional<std::string>(topic),
                          /*booked=*/!result->duplicate && result->accepted);
}

// A session is its client's data (the topic, the reasons): the counsellor's read of it is an
// access to record; the client's own read is not (AccessRecorder skips it).
AccessRecord session_access(const Principal& who, const Uuid& client, std::string session_id) {
  return AccessRecord{who.actor(), UserId{client}, access::Resource::session, std::move(session_id),
                      access::Basis::care_relationship};
}

HandlerResult list_sessions(AppContext& app, const HttpRequest& req, const PathParams&,
                            const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto page = query_int(req, "page", 1, 1000000);
  auto per_page = query_int(req, "per_page", 1, 100);
  auto from = query_time(req, "from");
  auto to = query_time(req, "to");
  if (!page) return unexpected(page.error());
  if (!per_page) return unexpected(per_page.error());
  if (!from) return unexpected(from.error());
  if (!to) return unexpected(to.error());
  projections::SessionFilter f;
  if (auto s = req.query_param("status"); s && !s->empty()) {
    static const std::vector<std::string_view> known = {"requested", "confirmed", "declined",
                                                        "cancelled", "completed", "no_show"};
    if (std::find(known.begin(), known.end(), *s) == known.end())
      return unexpected(bad_request("invalid_parameter",
                                    "status must be one of requested, confirmed, declined, "
                                    "cancelled, completed, no_show."));
    f.status = std::string(*s);
  }
  f.from = *from;
  f.to = *to;
  f.page = static_cast<int>(page->value_or(1));
  f.per_page = static_cast<int>(per_page->value_or(20));
  auto json_page = with_db(app, [&](pqxx::connection& c) {
    return projections::list_sessions_for_user(c, who.id.value().str(), f);
  });
  std::vector<AccessRecord> accesses;
  if (auto doc = json::parse(json_page, nullptr, 64)) {
    if (const auto* results = json::get_array(*doc, "results")) {
      for (const auto& item : results->GetArray()) {
        auto id = json::get_string(item, "id");
        auto client = json::get_string(item, "client_id");
        auto client_id = client ? Uuid::parse(*client) : std::nullopt;
        if (id && client_id) accesses.push_back(session_access(who, *client_id, std::string(*id)));
      }
    }
  }
  auto recorded = record_access(app, accesses);
  if (!recorded) return unexpected(recorded.error());
  return json_response(200, json_page);
}

// The session if the caller takes part in it; 404 for everyone else (no existence leak).
struct VisibleSession {
  std::string id;
  projections::SessionView view;
};

Expected<VisibleSession, ApiError> visible_session(AppContext& app, const PathParams& params,
                                                   const Principal& who) {
  auto id_text = params.get("id");
  auto id = id_text ? Uuid::parse(*id_text) : std::nullopt;
  if (!id) return unexpected(not_found("session_not_found", "No such session."));
  auto row =
      with_db(app, [&](pqxx::connection& c) { return projections::get_session(c, id->str()); });
  std::string me = who.id.value().str();
  if (!row || (row->client_id != me && row->counselor_id != me))
    return unexpected(not_found("session_not_found", "No such session."));
  return VisibleSession{id->str(), std::move(*row)};
}

HandlerResult get_session(AppContext& app, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto row = visible_session(app, params, who);
  if (!row) return unexpected(row.error());
  auto client = Uuid::parse(row->view.client_id);
  if (!client) return unexpected(internal_error());
  auto recorded = record_access(app, {session_access(who, *client, row->id)});
  if (!recorded) return unexpected(recorded.error());
  return json_response(200, row->view.json);
}

HandlerResult change_session(AppContext& app, const HttpRequest& req, const PathParams& params,
                             const Principal& who, const std::string& command_type,
                             std::string reason) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto row = visible_session(app, params, who);
  if (!row) return unexpected(row.error());
  auto counselor = Uuid::parse(row->view.counselor_id);
  if (!counselor) return unexpected(internal_error());
  // The reason may describe the client's health: whoever gives it, it travels sealed with the
  // session client's key (like the booking's topic), so erasing the client shreds it too.
  if (!reason.empty()) {
    auto client = Uuid::parse(row->view.client_id);
    if (!client) return unexpected(internal_error());
    const std::string subject = client->str();
    reason = crypto::encrypt_field(app.keyring->get_or_create(*client), reason, subject);
  }
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  if (!reason.empty()) {
    json::key(w, "reason");
    json::write_string(w, reason);
  }
  json::key(w, "session_id");
  json::write_string(w, row->id);
  w.EndObject();
  auto cmd = make_command(req, who, command_type, counselor_stream(UserId{*counselor}),
                          std::string(sb.GetString(), sb.GetSize()));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  return session_response(app, 200, row->id, *result);
}

// What the aggregate can no longer check, as it only sees the reason sealed: its length, and that
// it is text the read model can store.
std::optional<ApiError> reason_problem(std::string_view reason) {
  if (reason.size() > 1000)
    return bad_request("invalid_reason", "reason may be at most 1000 characters.");
  if (!fields::valid_utf8(reason) || reason.find('\0') != std::string_view::npos)
    return bad_request("invalid_reason", "reason must be UTF-8 text without U+0000.");
  return std::nullopt;
}

// Optional {reason} body; an empty body is fine.
Expected<std::string, ApiError> optional_reason(const HttpRequest& req) {
  if (req.body.empty()) return std::string();
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto it = body->FindMember("reason");
  if (it == body->MemberEnd() || it->value.IsNull()) return std::string();
  if (!it->value.IsString())
    return unexpected(bad_request("invalid_reason", "reason must be a string."));
  std::string reason(it->value.GetString(), it->value.GetStringLength());
  if (auto problem = reason_problem(reason)) return unexpected(std::move(*problem));
  return reason;
}

AuthedHandler transition(std::string command_type) {
  return [command_type](AppContext& app, const HttpRequest& req, const PathParams& params,
                        const Principal& who) -> HandlerResult {
    auto reason = optional_reason(req);
    if (!reason) return unexpected(reason.error());
    return change_session(app, req, params, who, command_type, *reason);
  };
}

// PUT /sessions/{id} {status}: the seeds' way of moving a session along.
HandlerResult put_session(AppContext& app, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto status = json::get_string(*body, "status");
  if (!status) return unexpected(bad_request("invalid_status", "status is required."));
  static const std::vector<std::pair<std::string_view, std::string_view>> moves = {
      {"confirmed", "session.confirm"},  {"declined", "session.decline"},
      {"cancelled", "session.cancel"},   {"canceled", "session.cancel"},
      {"completed", "session.complete"}, {"no_show", "session.mark_no_show"}};
  for (auto& [name, type] : moves) {
    if (*status == name) {
      std::string reason;
      if (auto r = json::get_string(*body, "reason")) reason = std::string(*r);
      if (auto problem = reason_problem(reason)) return unexpected(std::move(*problem));
      return change_session(app, req, params, who, std::string(type), reason);
    }
  }
  if (*status == "requested")
    return unexpected(conflict("invalid_transition", "A session cannot move back to requested."));
  return unexpected(bad_request("invalid_status",
                                "status must be confirmed, declined, cancelled, completed or "
                                "no_show."));
}

}  // namespace

void register_session_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/sessions", wrap_authed(app, book));
  router.add("GET", "/api/v1/sessions", wrap_authed(app, list_sessions));
  router.add("GET", "/api/v1/sessions/{id}", wrap_authed(app, get_session));
  router.add("PUT", "/api/v1/sessions/{id}", wrap_authed(app, put_session));
  router.add("PATCH", "/api/v1/sessions/{id}", wrap_authed(app, put_session));
  router.add("POST", "/api/v1/sessions/{id}/confirm",
             wrap_authed(app, transition("session.confirm")));
  router.add("POST", "/api/v1/sessions/{id}/decline",
             wrap_authed(app, transition("session.decline")));
  router.add("POST", "/api/v1/sessions/{id}/complete",
             wrap_authed(app, transition("session.complete")));
  router.add("POST", "/api/v1/sessions/{id}/no-show",
             wrap_authed(app, transition("session.mark_no_show")));
  router.add("POST", "/api/v1/sessions/{id}/cancel",
             wrap_authed(app, transition("session.cancel")));
}

}  // namespace counsel::api
