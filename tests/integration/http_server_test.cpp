// The HTTP server over real loopback sockets, with a deliberately dumb raw-socket client so that
// malformed and oversized requests can be sent exactly as written.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "api/http_server.hpp"
#include "domain/json.hpp"
#include "tests/integration/raw_http_client.hpp"

using namespace counsel;
using namespace counsel::api;
using namespace std::chrono_literals;
using counsel::testing::RawClient;
using counsel::testing::RawResponse;

namespace {

std::string get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n";
}

// Echoes what the server handed the handler, as JSON.
HttpResponse echo(const HttpRequest& request) {
  rapidjson::StringBuffer buffer;
  json::Writer writer(buffer);
  writer.StartObject();
  json::key(writer, "method");
  json::write_string(writer, request.method);
  json::key(writer, "path");
  json::write_string(writer, request.path);
  json::key(writer, "target");
  json::write_string(writer, request.target);
  json::key(writer, "body");
  json::write_string(writer, request.body);
  json::key(writer, "remote_ip");
  json::write_string(writer, request.remote_ip);
  json::key(writer, "x_test");
  json::write_string(writer, request.header("x-test").value_or(""));
  json::key(writer, "query");
  writer.StartArray();
  for (const auto& [key, value] : request.query) {
    writer.StartArray();
    json::write_string(writer, key);
    json::write_string(writer, value);
    writer.EndArray();
  }
  writer.EndArray();
  writer.EndObject();
  HttpResponse response;
  response.body.assign(buffer.GetString(), buffer.GetSize());
  response.headers.emplace_back("X-Echo", "yes");
  return response;
}

HttpServerOptions test_options() {
  HttpServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.worker_threads = 2;
  return options;
}

struct RunningServer {
  explicit RunningServer(HttpServerOptions options, HttpHandler handler = echo)
      : server(std::move(options), std::move(handler)) {
    server.start();
  }
  ~RunningServer() { server.stop(); }
  unsigned short port() const { return server.port(); }
  HttpServer server;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(http_server_test)

BOOST_AUTO_TEST_CASE(serves_two_requests_on_one_kept_alive_connection) {
  RunningServer running(test_options());
  BOOST_REQUIRE(running.port() != 0);
  RawClient client(running.port());

  const RawResponse first = client.request(get("/health", "X-Test: one\r\n"));
  BOOST_TEST(first.status == 200);
  BOOST_TEST(first.header("server") == "counsel");
  BOOST_TEST(first.header("content-type") == "application/json");
  BOOST_TEST(first.header("x-echo") == "yes");
  BOOST_TEST(first.header("cache-control") == "");  // only /api responses are no-store
  auto doc = json::parse(first.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "x_test") == "one");
  BOOST_TEST(*json::get_string(*doc, "remote_ip") == "127.0.0.1");

  const std::string body = R"({"hello":"world"})";
  const RawResponse second = client.request(
      "POST /api/v1/things HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  BOOST_TEST(second.status == 200);
  BOOST_TEST(second.header("cache-control") == "no-store");
  doc = json::parse(second.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "method") == "POST");
  BOOST_TEST(*json::get_string(*doc, "body") == body);
}

BOOST_AUTO_TEST_CASE(percent_decodes_path_and_query) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const RawResponse response =
      client.request(get("/api/v1/caf%C3%A9/a%20b?q=a%20b&name=j%2Bk&plus=x+y&flag&empty="));
  BOOST_TEST(response.status == 200);
  auto doc = json::parse(response.body);
  BOOST_REQUIRE(doc.has_value());
  BOOST_TEST(*json::get_string(*doc, "path") == "/api/v1/café/a b");
  BOOST_TEST(*json::get_string(*doc, "target") ==
             "/api/v1/caf%C3%A9/a%20b?q=a%20b&name=j%2Bk&plus=x+y&flag&empty=");
  const auto& query = (*doc)["query"];
  BOOST_REQUIRE(query.Size() == 5u);
  auto pair_at = [&](rapidjson::SizeType i) {
    return std::string(query[i][0].GetString()) + "=" + query[i][1].GetString();
  };
  BOOST_TEST(pair_at(0) == "q=a b");
  BOOST_TEST(pair_at(1) == "name=j+k");
  BOOST_TEST(pair_at(2) == "plus=x y");
  BOOST_TEST(pair_at(3) == "flag=");
  BOOST_TEST(pair_at(4) == "empty=");
}

BOOST_AUTO_TEST_CASE(invalid_percent_encoding_is_a_400) {
  RunningServer running(test_options());
  RawClient client(running.port());
  for (const char* target : {"/api/v1/bad%zz", "/api/v1/x?q=%G1", "/api/v1/nul%00byte"}) {
    BOOST_TEST_CONTEXT(target) {
      const RawResponse response = client.request(get(target));
      BOOST_TEST(response.status == 400);
      BOOST_TEST(response.header("content-type") == "application/problem+json");
      BOOST_TEST(response.problem_code() == "invalid_encoding");
    }
  }
  // The connection survives a well-framed request with a bad target.
  BOOST_TEST(client.request(get("/health")).status == 200);
}

BOOST_AUTO_TEST_CASE(oversized_body_is_a_413) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const size_t size = 2 << 20;
  const std::string head =
      "POST /api/v1/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(size) +
      "\r\n\r\n";
  // Send the body from another thread: the server answers before reading it all.
  auto sender = std::async(std::launch::async, [&client, head, size] {
    return client.send_all(head) && client.send_all(std::string(size, 'x'));
  });
  const RawResponse response = client.read_response(10s);
  sender.wait();
  BOOST_TEST(response.status == 413);
  BOOST_TEST(response.problem_code() == "payload_too_large");
  BOOST_TEST(response.header("connection") == "close");
  BOOST_TEST(client.closed_by_peer_within(5s));
}

BOOST_AUTO_TEST_CASE(oversized_chunked_body_is_a_413) {
  HttpServerOptions options = test_options();
  options.max_body_bytes = 1000;
  RunningServer running(options);
  RawClient client(running.port());
  std::string request =
      "POST /api/v1/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "200\r\n" + std::string(0x200, 'y') + "\r\n";
  request += "0\r\n\r\n";
  const RawResponse response = client.request(request);
  BOOST_TEST(response.status == 413);
  BOOST_TEST(response.problem_code() == "payload_too_large");
}

BOOST_AUTO_TEST_CASE(oversized_headers_are_a_431) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const RawResponse response =
      client.request(get("/health", "X-Big: " + std::string(20 << 10, 'h') + "\r\n"));
  BOOST_TEST(response.status == 431);
  BOOST_TEST(response.problem_code() == "headers_too_large");
  BOOST_TEST(client.closed_by_peer_within(5s));
}

BOOST_AUTO_TEST_CASE(garbage_is_a_400_then_close) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const RawResponse response = client.request("this is not http\r\n\r\n");
  BOOST_TEST(response.status == 400);
  BOOST_TEST(response.problem_code() == "malformed_request");
  BOOST_TEST(client.closed_by_peer_within(5s));

  RawClient second(running.port());
  const RawResponse bad_header = second.request("GET / HTTP/1.1\r\nNo colon here\r\n\r\n");
  BOOST_TEST(bad_header.status == 400);
}

BOOST_AUTO_TEST_CASE(idle_connections_are_closed) {
  HttpServerOptions options = test_options();
  options.idle_timeout = 1s;
  RunningServer running(options);

  RawClient after_a_request(running.port());
  BOOST_TEST(after_a_request.request(get("/health")).status == 200);
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST(after_a_request.closed_by_peer_within(5s));
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 800ms));

  RawClient silent(running.port());
  BOOST_TEST(silent.closed_by_peer_within(5s));
}

BOOST_AUTO_TEST_CASE(slow_requests_are_cut_off) {
  HttpServerOptions options = test_options();
  options.request_read_timeout = 1s;
  RunningServer running(options);
  RawClient client(running.port());
  client.send_all("GET /health HTTP/1.1\r\nHost: loc");  // and never finishes
  BOOST_TEST(client.closed_by_peer_within(5s));
}

BOOST_AUTO_TEST_CASE(full_worker_queue_is_a_503) {
  HttpServerOptions options = test_options();
  options.worker_threads = 1;
  options.max_queued_requests = 1;
  std::promise<void> release_promise;
  std::shared_future<void> release = release_promise.get_future().share();
  std::atomic<int> blocked{0};
  RunningServer running(options, [&](const HttpRequest& request) {
    if (request.path == "/block") {
      ++blocked;
      release.wait();
    }
    return echo(request);
  });

  RawClient running_one(running.port());
  running_one.send_all(get("/block"));
  for (int i = 0; i < 200 && blocked.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  BOOST_REQUIRE(blocked.load() == 1);

  RawClient queued_one(running.port());
  queued_one.send_all(get("/block"));
  std::this_thread::sleep_for(300ms);  // lets the server queue it

  RawClient rejected(running.port());
  const RawResponse busy = rejected.request(get("/api/v1/anything"));
  BOOST_TEST(busy.status == 503);
  BOOST_TEST(busy.problem_code() == "overloaded");
  BOOST_TEST(busy.header("retry-after") == "1");

  release_promise.set_value();
  BOOST_TEST(running_one.read_response().status == 200);
  BOOST_TEST(queued_one.read_response().status == 200);
  // Once the pool has drained, the rejected client's connection is served normally.
  BOOST_TEST(rejected.request(get("/api/v1/anything")).status == 200);
}

BOOST_AUTO_TEST_CASE(handler_exceptions_are_a_500_without_internals) {
  RunningServer running(test_options(), [](const HttpRequest& request) -> HttpResponse {
    if (request.path == "/boom") throw std::runtime_error("secret database detail");
    return echo(request);
  });
  RawClient client(running.port());
  const RawResponse response = client.request(get("/boom"));
  BOOST_TEST(response.status == 500);
  BOOST_TEST(response.problem_code() == "internal_error");
  BOOST_TEST(response.body.find("secret") == std::string::npos);
  BOOST_TEST(client.request(get("/health")).status == 200);  // connection still usable
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_are_closed) {
  HttpServerOptions options = test_options();
  options.max_connections = 2;
  RunningServer running(options);
  RawClient first(running.port());
  RawClient second(running.port());
  BOOST_TEST(first.request(get("/health")).status == 200);
  BOOST_TEST(second.request(get("/health")).status == 200);
  RawClient third(running.port());
  BOOST_TEST(third.closed_by_peer_within(5s));
  BOOST_TEST(first.request(get("/health")).status == 200);
}

BOOST_AUTO_TEST_CASE(websocket_upgrades_are_not_routed_yet) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const RawResponse response = client.request(
      get("/api/v1/chat",
          "Connection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
  BOOST_TEST(response.status == 404);
  BOOST_TEST(response.problem_code() == "not_found");
}

BOOST_AUTO_TEST_CASE(connection_close_is_honoured) {
  RunningServer running(test_options());
  RawClient client(running.port());
  const RawResponse response = client.request(get("/health", "Connection: close\r\n"));
  BOOST_TEST(response.status == 200);
  BOOST_TEST(client.closed_by_peer_within(5s));
}

BOOST_AUTO_TEST_CASE(head_responses_carry_no_body) {
  RunningServer running(test_options());
  RawClient client(running.port());
  client.send_all("HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const RawResponse head = client.read_response(5s, false);
  BOOST_TEST(head.status == 200);
  BOOST_TEST(std::stoul(head.header("content-length")) > 0u);
  // Had a body been sent, it would be misread as the next response's status line.
  const RawResponse next = client.request(get("/health"));
  BOOST_TEST(next.status == 200);
  BOOST_TEST(next.body.find("\"method\":\"GET\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_answered) {
  RunningServer running(test_options());
  RawClient client(running.port());
  client.send_all(
      "POST /api/v1/things HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
      "Content-Length: 4\r\n\r\n");
  const RawResponse interim = client.read_response(2s);
  BOOST_TEST(interim.status == 100);
  client.send_all("abcd");
  const RawResponse response = client.read_response();
  BOOST_TEST(response.status == 200);
  BOOST_TEST(response.body.find("\"body\":\"abcd\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stop_returns_promptly_with_idle_clients) {
  auto running = std::make_unique<RunningServer>(test_options());
  RawClient idle(running->port());
  BOOST_TEST(idle.request(get("/health")).status == 200);
  RawClient silent(running->port());
  std::this_thread::sleep_for(50ms);
  const auto started = std::chrono::steady_clock::now();
  running.reset();
  BOOST_TEST((std::chrono::steady_clock::now() - started < 3s));
  BOOST_TEST(idle.closed_by_peer_within(1s));
}

BOOST_AUTO_TEST_SUITE_END()
