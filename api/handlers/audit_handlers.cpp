// GET /api/v1/audit: the compliance officers' search over the audit read model, one row per
// event of the log with who acted, whom it concerns, what and when — never the sealed data
// (`counsel audit replay` reads that, with the same filters, where the keys are).
// GET /api/v1/audit/verify: the hash chains' state, walked with the same code as
// `counsel audit verify`. Each api process remembers the heads it verified, so a later call
// walks only what was appended since (?full=true walks everything again).
#include <mutex>

#include "api/cli/audit_verify.hpp"
#include "api/handler_support.hpp"
#include "infra/random_ids.hpp"
#include "projections/audit_queries.hpp"

namespace counsel::api {
namespace {

Expected<std::string, ApiError> optional_user_param(const HttpRequest& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::string();
  auto id = Uuid::parse(*v);
  if (!id)
    return unexpected(bad_request("invalid_parameter", std::string(name) + " must be a UUID."));
  return id->str();
}

HandlerResult search(AppContext& app, const HttpRequest& req, const PathParams&,
                     const Principal& who) {
  if (who.role != Role::compliance)
    return unexpected(forbidden("forbidden", "The audit stream is for compliance officers."));
  projections::AuditFilter f;
  auto actor = optional_user_param(req, "actor");
  if (!actor) return unexpected(actor.error());
  auto subject = optional_user_param(req, "subject");
  if (!subject) return unexpected(subject.error());
  f.actor = *actor;
  f.subject = *subject;
  f.type = std::string(req.query_param("type").value_or(""));
  if (f.type.size() > 100)
    return unexpected(bad_request("invalid_parameter", "type is at most 100 characters."));
  auto from = query_time(req, "from");
  if (!from) return unexpected(from.error());
  auto to = query_time(req, "to");
  if (!to) return unexpected(to.error());
  f.from = *from;
  f.to = *to;
  auto page = query_int(req, "page", 1, 1'000'000);
  if (!page) return unexpected(page.error());
  auto per_page = query_int(req, "per_page", 1, 200);
  if (!per_page) return unexpected(per_page.error());
  f.page = static_cast<int>(page->value_or(1));
  f.per_page = static_cast<int>(per_page->value_or(50));
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  return json_response(200, with_db(app, [&](pqxx::connection& c) {
                         return projections::search_audit_events(c, f);
                       }));
}

// The heads this process verified, where the next call resumes.
struct VerifiedHeads {
  std::mutex mutex;  // one walk at a time
  std::vector<ChainCheckpoint> heads;
};

void write_problem(json::Writer& w, const ChainProblem& p) {
  w.StartObject();
  json::key(w, "fault");
  json::write_string(w, chain_fault_name(p.fault));
  json::key(w, "offset");
  w.Int64(p.offset);
  json::key(w, "event_id");
  json::write_string(w, p.event_id);
  json::key(w, "detail");
  json::write_string(w, p.detail);
  w.EndObject();
}

HandlerResult verify(AppContext& app, VerifiedHeads& state, const HttpRequest& req,
                     const Principal& who) {
  if (who.role != Role::compliance)
    return unexpected(forbidden("forbidden", "The audit stream is for compliance officers."));
  auto full_param = req.query_param("full");
  if (full_param && *full_param != "true" && *full_param != "false")
    return unexpected(bad_request("invalid_parameter", "full must be true or false."));
  const bool full = full_param && *full_param == "true";
  std::lock_guard lock(state.mutex);
  const auto report =
      verify_event_chains(*app.log, full ? std::vector<ChainCheckpoint>{} : state.heads, nullptr);
  // A broken partition loses its head: the next call walks it from the start and reports the
  // broken link again, however far the chain has grown since.
  std::vector<ChainCheckpoint> next;
  for (const auto& p : report.partitions)
    if (p.problems == 0 && p.last_offset >= 0)
      next.push_back(ChainCheckpoint{p.partition, p.last_offset, p.last_hash});
  state.heads = std::move(next);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "intact");
  w.Bool(report.intact());
  json::key(w, "full");
  w.Bool(full);
  json::key(w, "events_checked");
  w.Int64(report.events);
  json::key(w, "seconds");
  w.Double(report.seconds);
  json::key(w, "verified_at");
  json::write_string(w, format_rfc3339(now_utc()));
  json::key(w, "partitions");
  w.StartArray();
  for (const auto& p : report.partitions) {
    w.StartObject();
    json::key(w, "partition");
    w.Int(p.partition);
    json::key(w, "from_offset");
    w.Int64(p.from_offset);
    json::key(w, "events_checked");
    w.Int64(p.events);
    json::key(w, "head_offset");
    w.Int64(p.last_offset);
    json::key(w, "head_hash");
    json::write_string(w, p.last_hash);
    json::key(w, "problem");
    if (p.first_problem) {
      write_problem(w, *p.first_problem);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json_response(200, std::string(sb.GetString(), sb.GetSize()));
}

}  // namespace

void register_audit_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/audit", wrap_authed(app, search));
  auto heads = std::make_shared<VerifiedHeads>();
  router.add(
      "GET", "/api/v1/audit/verify",
      wrap_authed(app, [heads](AppContext& a, const HttpRequest& req, const PathParams&,
                               const Principal& who) { return verify(a, *heads, req, who); }));
}

}  // namespace counsel::api
