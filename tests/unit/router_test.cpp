#include <boost/test/unit_test.hpp>

#include "api/router.hpp"
#include "domain/json.hpp"

using namespace counsel;
using namespace counsel::api;

namespace {

RouteHandler answer(std::string body) {
  return [body](const HttpRequest&, const PathParams& params) {
    HttpResponse response;
    response.body = body;
    for (const auto& [name, value] : params.all()) response.body += " " + name + "=" + value;
    return response;
  };
}

HttpRequest request(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

std::optional<std::string_view> header(const HttpResponse& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

Router sample_router() {
  Router router;
  router.add("GET", "/api/v1/sessions", answer("list"));
  router.add("POST", "/api/v1/sessions", answer("create"));
  router.add("GET", "/api/v1/sessions/{id}", answer("show"));
  router.add("PUT", "/api/v1/sessions/{id}", answer("update"));
  router.add("POST", "/api/v1/sessions/{id}/confirm", answer("confirm"));
  router.add("GET", "/api/v1/sessions/mine", answer("mine"));
  router.add("GET", "/api/v1/counselors/{id}/slots", answer("slots"));
  router.add("GET", "/health", answer("health"));
  return router;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(router_test)

BOOST_AUTO_TEST_CASE(matches_literal_paths_and_methods) {
  const Router router = sample_router();
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/sessions")).body == "list");
  BOOST_TEST(router.dispatch(request("POST", "/api/v1/sessions")).body == "create");
  BOOST_TEST(router.dispatch(request("GET", "/health")).body == "health");
}

BOOST_AUTO_TEST_CASE(captures_parameters) {
  const Router router = sample_router();
  auto matched = router.match("POST", "/api/v1/sessions/abc-123/confirm");
  BOOST_REQUIRE(matched.has_value());
  BOOST_TEST(matched->route_template == "/api/v1/sessions/{id}/confirm");
  BOOST_TEST(*matched->params.get("id") == "abc-123");
  BOOST_TEST(matched->params.at("id") == "abc-123");
  BOOST_TEST(!matched->params.get("other").has_value());
  BOOST_CHECK_THROW(matched->params.at("other"), std::out_of_range);
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/counselors/c1/slots")).body == "slots id=c1");
}

BOOST_AUTO_TEST_CASE(literal_segment_beats_parameter_regardless_of_order) {
  const Router router = sample_router();
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/sessions/mine")).body == "mine");
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/sessions/other")).body == "show id=other");
}

BOOST_AUTO_TEST_CASE(tolerates_a_trailing_slash) {
  const Router router = sample_router();
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/sessions/")).body == "list");
  BOOST_TEST(router.dispatch(request("POST", "/api/v1/sessions/s1/confirm/")).body ==
             "confirm id=s1");
}

BOOST_AUTO_TEST_CASE(unknown_path_is_a_404_problem) {
  const Router router = sample_router();
  std::string route;
  const HttpResponse response = router.dispatch(request("GET", "/api/v1/nothing"), &route);
  BOOST_TEST(response.status == 404);
  BOOST_TEST(response.content_type == "application/problem+json");
  BOOST_TEST(route == "unmatched");
  auto doc = json::parse(response.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "code") == "not_found");
  BOOST_TEST(*json::get_int(*doc, "status") == 404);
  BOOST_TEST(*json::get_string(*doc, "instance") == "/api/v1/nothing");
  BOOST_TEST(json::get_string(*doc, "timestamp").has_value());
  BOOST_TEST(*json::get_string(*doc, "type") == "https://counsel.example/problems/not_found");
}

BOOST_AUTO_TEST_CASE(empty_segments_and_extra_segments_do_not_match) {
  const Router router = sample_router();
  BOOST_TEST(router.dispatch(request("GET", "/api/v1/sessions//confirm")).status == 404);
  BOOST_TEST(router.dispatch(request("POST", "/api/v1/sessions/x/confirm/more")).status == 404);
  BOOST_TEST(router.dispatch(request("GET", "/")).status == 404);
}

BOOST_AUTO_TEST_CASE(wrong_method_is_a_405_with_allow) {
  const Router router = sample_router();
  const HttpResponse response = router.dispatch(request("DELETE", "/api/v1/sessions/s1"));
  BOOST_TEST(response.status == 405);
  BOOST_TEST(*header(response, "Allow") == "GET, PUT");
  auto doc = json::parse(response.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "code") == "method_not_allowed");

  auto matched = router.match("GET", "/api/v1/sessions/s1/confirm");
  BOOST_REQUIRE(!matched.has_value());
  BOOST_TEST(matched.error().status == 405);
}

BOOST_AUTO_TEST_CASE(re_adding_a_route_replaces_its_handler) {
  Router router = sample_router();
  router.add("GET", "/health", answer("healthier"));
  BOOST_TEST(router.dispatch(request("GET", "/health")).body == "healthier");
}

BOOST_AUTO_TEST_CASE(rejections_map_to_statuses_in_one_place) {
  BOOST_TEST(from_rejection({RejectionKind::invalid, "bad", "m"}).status == 400);
  BOOST_TEST(from_rejection({RejectionKind::unauthorized, "u", "m"}).status == 401);
  BOOST_TEST(from_rejection({RejectionKind::forbidden, "f", "m"}).status == 403);
  BOOST_TEST(from_rejection({RejectionKind::not_found, "n", "m"}).status == 404);
  BOOST_TEST(from_rejection({RejectionKind::conflict, "slot_unavailable", "m"}).status == 409);
  BOOST_TEST(from_rejection({RejectionKind::unprocessable, "too_soon", "m"}).status == 422);
  const ApiError error = from_rejection({RejectionKind::conflict, "slot_unavailable", "taken"});
  BOOST_TEST(error.code == "slot_unavailable");
  BOOST_TEST(error.detail == "taken");

  const HttpResponse busy = problem_response(overloaded(), "/x");
  BOOST_TEST(busy.status == 503);
  BOOST_TEST(*header(busy, "Retry-After") == "1");
  const HttpResponse blank = problem_response(ApiError{418, "", "", "", {}}, "/x");
  auto doc = json::parse(blank.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "type") == "about:blank");
  BOOST_TEST(*json::get_string(*doc, "title") == "Error");
}

BOOST_AUTO_TEST_SUITE_END()
