// /health, /status, /metrics: what operators and load balancers poll.
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <pqxx/pqxx>

#include "api/handler_support.hpp"
#include "infra/metrics/metrics.hpp"
#include "infra/random_ids.hpp"
#include "projections/consistency.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

HandlerResult health(AppContext& app, const HttpRequest&, const PathParams&) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "status");
  json::write_string(w, "healthy");
  json::key(w, "timestamp");
  json::write_string(w, format_rfc3339(now_utc()));
  json::key(w, "version");
  json::write_string(w, app.version);
  w.EndObject();
  return json_response(200, std::string(sb.GetString(), sb.GetSize()));
}

HandlerResult status(AppContext& app, const HttpRequest&, const PathParams&) {
  std::string db_state = "healthy";
  std::map<std::string, int64_t> lag;
  std::vector<log::Position> ends;
  std::string log_state = "healthy";
  std::string log_detail;
  for (int p = 0; p < app.log->partition_count(); ++p) {
    auto end = app.log->end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) {
      log_state = "unavailable";
      log_detail = end.error().message;
      break;
    }
    ends.push_back({log::PartitionId{p}, *end});
  }
  try {
    lag = with_db(app, [&](pqxx::connection& c) { return projections::projection_lag(c, ends); });
  } catch (const std::exception&) {
    db_state = "unavailable";
  }
  bool healthy = db_state == "healthy" && log_state == "healthy";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "status");
  json::write_string(w, healthy ? "healthy" : "degraded");
  json::key(w, "database");
  json::write_string(w, db_state);
  json::key(w, "log");
  w.StartObject();
  json::key(w, "engine");
  json::write_string(w, app.log->engine_name());
  json::key(w, "status");
  json::write_string(w, log_state);
  json::key(w, "partitions");
  w.Int(app.log->partition_count());
  int64_t total = 0;
  for (auto& e : ends) total += e.offset.value();
  json::key(w, "events");
  w.Int64(total);
  w.EndObject();
  json::key(w, "projections");
  w.StartObject();
  for (auto& [name, l] : lag) {
    json::key(w, name);
    w.StartObject();
    json::key(w, "lag");
    w.Int64(l);
    w.EndObject();
  }
  w.EndObject();
  json::key(w, "timestamp");
  json::write_string(w, format_rfc3339(now_utc()));
  w.EndObject();
  return json_response(healthy ? 200 : 503, std::string(sb.GetString(), sb.GetSize()));
}

// Projection lag is a property of the database, not of one process: every api process reports
// it, computed at scrape time.
void update_lag_gauges(AppContext& app) {
  static auto& family = prometheus::BuildGauge()
                            .Name("counsel_projection_lag_events")
                            .Help("Events in the log not yet applied by a projection")
                            .Register(metrics::registry());
  const auto ends = log::end_positions(*app.log, log::Topic::events);
  if (!ends) return;
  auto lag =
      with_db(app, [&](pqxx::connection& c) { return projections::projection_lag(c, *ends); });
  for (auto& [name, value] : lag)
    family.Add({{"projection", name}}).Set(static_cast<double>(value));
}

HandlerResult metrics(AppContext& app, const HttpRequest&, const PathParams&) {
  try {
    update_lag_gauges(app);
  } catch (const std::exception&) {
    // The database being away must not hide the other metrics.
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics::render_metrics();
  return r;
}

}  // namespace

void register_ops_routes(Router& router, AppContext& app) {
  router.add("GET", "/health", wrap(app, health));
  router.add("GET", "/status", wrap(app, status));
  router.add("GET", "/metrics", wrap(app, metrics));
}

}  // namespace counsel::api
