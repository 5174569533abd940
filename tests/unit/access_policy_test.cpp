#include <boost/test/unit_test.hpp>

#include <set>

#include "api/access_policy.hpp"
#include "domain/json.hpp"

using namespace counsel;
using namespace counsel::api;

namespace {

// Stands in for authenticate(): "Bearer <role>" is a token of that role; anything else is the
// 401 the real one answers.
Expected<Role, ApiError> role_from_header(const HttpRequest& request) {
  auto header = request.header("authorization");
  if (!header) return unexpected(unauthorized("not_authenticated", "no token"));
  auto role = header->starts_with("Bearer ") ? parse_role(header->substr(7)) : std::nullopt;
  if (!role) return unexpected(unauthorized("invalid_token", "bad token"));
  return *role;
}

RouteHandler reached() {
  return [](const HttpRequest&, const PathParams&) {
    HttpResponse response;
    response.body = "handler";
    return response;
  };
}

HttpRequest request(std::string method, std::string path, std::optional<std::string> role = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  if (role) r.headers["authorization"] = "Bearer " + *role;
  return r;
}

// A router with a few of the real routes and one the policy does not know.
Router guarded_router() {
  Router router;
  router.add("GET", "/health", reached());
  router.add("GET", "/api/v1/me", reached());
  router.add("POST", "/api/v1/sessions", reached());
  router.add("POST", "/api/v1/admin/users/{id}/suspend", reached());
  router.add("GET", "/api/v1/undeclared", reached());
  router.set_guard(make_access_guard(role_from_header));
  return router;
}

std::string problem_code(const HttpResponse& response) {
  auto doc = json::parse(response.body);
  BOOST_REQUIRE(doc);
  return std::string(json::get_string(*doc, "code").value_or(""));
}

std::vector<RouteKey> declared_routes() {
  std::vector<RouteKey> keys;
  for (const auto& access : access_policy())
    keys.push_back({std::string(access.method), std::string(access.pattern)});
  return keys;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(access_policy_test)

BOOST_AUTO_TEST_CASE(public_routes_pass_without_a_token) {
  const Router router = guarded_router();
  BOOST_TEST(router.dispatch(request("GET", "/health")).body == "handler");
  BOOST_TEST(router.dispatch(request("GET", "/health", "admin")).body == "handler");
}

BOOST_AUTO_TEST_CASE(other_routes_need_a_token) {
  const Router router = guarded_router();
  auto response = router.dispatch(request("GET", "/api/v1/me"));
  BOOST_TEST(response.status == 401);
  BOOST_TEST(problem_code(response) == "not_authenticated");
  response = router.dispatch(request("POST", "/api/v1/sessions", "nobody"));
  BOOST_TEST(response.status == 401);
  BOOST_TEST(problem_code(response) == "invalid_token");
}

BOOST_AUTO_TEST_CASE(signed_in_routes_take_every_role) {
  const Router router = guarded_router();
  for (auto role : {"client", "counselor", "admin", "compliance"})
    BOOST_TEST(router.dispatch(request("GET", "/api/v1/me", role)).body == "handler");
}

BOOST_AUTO_TEST_CASE(a_role_outside_the_set_gets_the_routes_refusal) {
  const Router router = guarded_router();
  BOOST_TEST(router.dispatch(request("POST", "/api/v1/sessions", "client")).body == "handler");
  for (auto role : {"counselor", "admin", "compliance"}) {
    auto response = router.dispatch(request("POST", "/api/v1/sessions", role));
    BOOST_TEST(response.status == 403);
    BOOST_TEST(response.content_type == "application/problem+json");
    BOOST_TEST(problem_code(response) == "clients_only");  // what clients already rely on
  }
  const std::string suspend = "/api/v1/admin/users/0190a1b2-0000-7000-8000-000000000001/suspend";
  BOOST_TEST(router.dispatch(request("POST", suspend, "admin")).body == "handler");
  auto response = router.dispatch(request("POST", suspend, "compliance"));
  BOOST_TEST(response.status == 403);
  BOOST_TEST(problem_code(response) == "forbidden");
}

BOOST_AUTO_TEST_CASE(an_undeclared_route_is_refused) {
  const Router router = guarded_router();
  for (auto role : {"client", "admin"})
    BOOST_TEST(router.dispatch(request("GET", "/api/v1/undeclared", role)).status == 403);
}

BOOST_AUTO_TEST_CASE(no_match_means_no_guard) {
  // 404 and 405 stay the router's answers: the guard only sees matched routes.
  const Router router = guarded_router();
  BOOST_TEST(router.dispatch(request("GET", "/nowhere")).status == 404);
  BOOST_TEST(router.dispatch(request("DELETE", "/api/v1/me")).status == 405);
}

BOOST_AUTO_TEST_CASE(mismatches_are_found_both_ways) {
  auto routes = declared_routes();
  BOOST_TEST(access_policy_mismatches(routes).empty());

  auto missing_one = routes;
  missing_one.erase(missing_one.begin());
  missing_one.push_back({"GET", "/api/v1/secret"});
  auto problems = access_policy_mismatches(missing_one);
  BOOST_TEST_REQUIRE(problems.size() == 2u);
  BOOST_TEST(problems[0].find("GET /api/v1/secret is registered") != std::string::npos);
  BOOST_TEST(problems[1].find("GET /health is in api/access_policy.cpp") != std::string::npos);

  Router router;
  router.add("GET", "/api/v1/secret", reached());
  BOOST_CHECK_THROW(install_access_guard(router, role_from_header), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(the_declaration_is_consistent) {
  std::set<std::string> seen;
  for (const auto& access : access_policy()) {
    const std::string name = std::string(access.method) + " " + std::string(access.pattern);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(seen.insert(name).second, "declared once");
      BOOST_TEST(!access.note.empty());
      // A path parameter names a resource, and only then can ownership be required.
      const bool has_param = access.pattern.find('{') != std::string_view::npos;
      BOOST_TEST(has_param == (access.resource != Resource::none));
      if (access.ownership != Ownership::none) BOOST_TEST(has_param);
      if (access.audience == Audience::roles) BOOST_TEST(!access.roles.empty());
      if (access.audience != Audience::roles) BOOST_TEST(access.roles.empty());
      for (Role role : access.ownership_exempt.list())
        BOOST_TEST(allowed_roles(access).contains(role));
      // Only the ops routes and the ways in (sign-up, sign-in, reset links) are public.
      if (access.audience == Audience::anyone)
        BOOST_TEST(
            (!access.pattern.starts_with("/api/") || access.pattern.starts_with("/api/v1/auth/")));
    }
  }
}

BOOST_AUTO_TEST_CASE(prints_as_json) {
  auto doc = json::parse(access_policy_json());
  BOOST_TEST_REQUIRE(bool(doc));
  BOOST_TEST_REQUIRE(doc->IsArray());
  BOOST_TEST(doc->Size() == access_policy().size());
  const auto& first = (*doc)[0];
  for (auto member : {"method", "path", "who", "roles", "ownership", "resource", "ownership_exempt",
                      "refusal_code", "note"})
    BOOST_TEST(first.HasMember(member), member);
  const auto* book = find_route_access("POST", "/api/v1/sessions");
  BOOST_TEST_REQUIRE(book != nullptr);
  BOOST_TEST((allowed_roles(*book).list() == std::vector<Role>{Role::client}));
  BOOST_TEST(allowed_roles(*find_route_access("GET", "/health")).list().size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
