// The only translation unit of the load generator with Boost.Beast (compile time): HTTP/1.1
// keep-alive clients and WebSocket clients as C++20 coroutines on one io_context.
#include "http_load.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <iostream>
#include <memory>
#include <stdexcept>

namespace counsel::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// "409 slot_unavailable" from a problem body, else "409".
std::string failure_name(int status, const std::string& body) {
  std::string name = std::to_string(status);
  const std::string needle = "\"code\":\"";
  const auto at = body.find(needle);
  if (at != std::string::npos) {
    const auto end = body.find('"', at + needle.size());
    if (end != std::string::npos)
      name += " " + body.substr(at + needle.size(), end - at - needle.size());
  }
  return name;
}

std::string error_name(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  return "transport: " + ec.message();
}

// One keep-alive HTTP connection; reconnects on the next request after any failure.
class Connection {
 public:
  Connection(asio::io_context& io, const tcp::resolver::results_type& endpoints, std::string host)
      : stream_(io), endpoints_(endpoints), host_(std::move(host)) {}

  asio::awaitable<Response> exchange(const Request& r, Clock::duration timeout) {
    Response out;
    if (!connected_) {
      stream_.expires_after(timeout);
      auto [ec, ep] = co_await stream_.async_connect(endpoints_, kUseTuple);
      (void)ep;
      if (ec) {
        out.error = error_name(ec);
        reset();
        co_return out;
      }
      stream_.socket().set_option(tcp::no_delay(true));
      connected_ = true;
      ++opened;
    }
    http::request<http::string_body> req{r.method == "POST" ? http::verb::post : http::verb::get,
                                         r.target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "counsel_loadgen");
    req.set(http::field::accept, "application/json");
    if (!r.bearer.empty()) req.set(http::field::authorization, "Bearer " + r.bearer);
    if (!r.body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = r.body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    stream_.expires_after(timeout);
    auto [wec, written] = co_await http::async_write(stream_, req, kUseTuple);
    (void)written;
    if (wec) {
      out.error = error_name(wec);
      reset();
      co_return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    auto [rec, read] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
    (void)read;
    if (rec) {
      out.error = error_name(rec);
      reset();
      co_return out;
    }
    stream_.expires_never();
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (!res.keep_alive()) reset();
    co_return out;
  }

  void reset() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
    connected_ = false;
  }

  uint64_t opened = 0;

 private:
  beast::tcp_stream stream_;
  const tcp::resolver::results_type& endpoints_;
  std::string host_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

tcp::resolver::results_type resolve(asio::io_context& io, const Endpoint& endpoint) {
  tcp::resolver resolver(io);
  return resolver.resolve(endpoint.host, endpoint.port);
}

void count_answer(LoadResult& result, const Response& response, int expected, double latency_ms) {
  if (response.status == expected) {
    ++result.ok;
    result.latencies.add(latency_ms);
    return;
  }
  ++result.failed;
  ++result.failures[response.status == 0 ? response.error
                                         : failure_name(response.status, response.body)];
}

// Rethrows an exception that escaped a coroutine (a bug, not a measured failure).
void rethrow_if(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

}  // namespace

Endpoint parse_base_url(const std::string& url) {
  std::string rest = url;
  const std::string scheme = "http://";
  if (rest.rfind(scheme, 0) == 0) rest = rest.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
    throw std::invalid_argument("expected a base URL like http://127.0.0.1:8080, got " + url);
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

LoadResult run_closed_loop(const Endpoint& endpoint, const NextRequest& next,
                           const ClosedLoopOptions& options) {
  asio::io_context io;
  const auto endpoints = resolve(io, endpoint);
  LoadResult result;
  const auto timeout = seconds(options.timeout_s);
  const auto started = Clock::now();
  const auto deadline = started + seconds(options.duration_s);
  auto last_answer = started;

  auto client = [&]() -> asio::awaitable<void> {
    Connection conn(io, endpoints, endpoint.host);
    while (Clock::now() < deadline) {
      auto request = next();
      if (!request) {
        result.exhausted = true;
        break;
      }
      ++result.sent;
      const auto sent_at = Clock::now();
      auto response = co_await conn.exchange(*request, timeout);
      last_answer = Clock::now();
      count_answer(result, response, options.expected_status, ms_between(sent_at, last_answer));
    }
    result.connections_opened += conn.opened;
  };
  for (int i = 0; i < options.connections; ++i) asio::co_spawn(io, client(), rethrow_if);
  io.run();
  result.seconds = std::chrono::duration<double>(last_answer - started).count();
  return result;
}

LoadResult run_open_loop(const Endpoint& endpoint, const NextRequest& next,
                         const OpenLoopOptions& options) {
  asio::io_context io;
  const auto endpoints = resolve(io, endpoint);
  LoadResult result;
  const auto timeout = seconds(options.timeout_s);

  // Connections not in use, and requests waiting for one (each on a timer that a released
  // connection cancels).
  std::vector<std::unique_ptr<Connection>> idle;
  struct Waiter {
    explicit Waiter(asio::io_context& io) : timer(io, Clock::time_point::max()) {}
    asio::steady_timer timer;
    std::unique_ptr<Connection> handed;
  };
  std::deque<std::shared_ptr<Waiter>> waiters;
  int open_connections = 0;
  uint64_t in_flight = 0;
  const auto started = Clock::now();
  auto last_answer = started;

  auto release = [&](std::unique_ptr<Connection> conn) {
    if (!waiters.empty()) {
      auto waiter = waiters.front();
      waiters.pop_front();
      waiter->handed = std::move(conn);
      waiter->timer.cancel();
      return;
    }
    idle.push_back(std::move(conn));
  };

  auto one = [&](Request request, Clock::time_point intended) -> asio::awaitable<void> {
    std::unique_ptr<Connection> conn;
    if (!idle.empty()) {
      conn = std::move(idle.back());
      idle.pop_back();
    } else if (open_connections < options.max_connections) {
      ++open_connections;
      conn = std::make_unique<Connection>(io, endpoints, endpoint.host);
    } else {
      auto waiter = std::make_shared<Waiter>(io);
      waiters.push_back(waiter);
      co_await waiter->timer.async_wait(kUseTuple);
      conn = std::move(waiter->handed);
    }
    auto response = co_await conn->exchange(request, timeout);
    last_answer = Clock::now();
    count_answer(result, response, options.expected_status, ms_between(intended, last_answer));
    release(std::move(conn));
    --in_flight;
  };

  auto schedule = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io);
    const auto period = seconds(1.0 / options.rate);
    const auto end = started + seconds(options.duration_s);
    for (uint64_t i = 0;; ++i) {
      const auto intended = started + period * static_cast<int64_t>(i);
      if (intended >= end) break;
      timer.expires_at(intended);
      co_await timer.async_wait(kUseTuple);
      result.max_send_lag_ms = std::max(result.max_send_lag_ms, ms_between(intended, Clock::now()));
      auto request = next();
      if (!request) {
        result.exhausted = true;
        break;
      }
      ++result.sent;
      ++in_flight;
      asio::co_spawn(io, one(std::move(*request), intended), rethrow_if);
    }
  };
  asio::co_spawn(io, schedule(), rethrow_if);
  io.run();
  for (auto& conn : idle) result.connections_opened += conn->opened;
  result.seconds = std::chrono::duration<double>(last_answer - started).count();
  if (in_flight != 0) throw std::logic_error("open loop ended with requests in flight");
  return result;
}

std::vector<Response> run_batch(const Endpoint& endpoint, const std::vector<Request>& requests,
                                int concurrency, double timeout_s) {
  asio::io_context io;
  const auto endpoints = resolve(io, endpoint);
  std::vector<Response> responses(requests.size());
  size_t next = 0;
  auto worker = [&]() -> asio::awaitable<void> {
    Connection conn(io, endpoints, endpoint.host);
    while (next < requests.size()) {
      const size_t i = next++;
      responses[i] = co_await conn.exchange(requests[i], seconds(timeout_s));
    }
  };
  for (int i = 0; i < std::max(concurrency, 1); ++i) asio::co_spawn(io, worker(), rethrow_if);
  io.run();
  return responses;
}

// --- WebSocket fan-out ---------------------------------------------------------------------

namespace {

struct WsClient {
  explicit WsClient(asio::io_context& io) : ws(io) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  int room = 0;
  bool open = false;
};

// The message number in a frame {"type":"message",...,"content":"bfo:<n>",...}, or -1.
long long message_number(const std::string& frame) {
  const std::string needle = "\"content\":\"bfo:";
  const auto at = frame.find(needle);
  if (at == std::string::npos) return -1;
  long long n = 0;
  size_t i = at + needle.size();
  if (i >= frame.size() || frame[i] < '0' || frame[i] > '9') return -1;
  for (; i < frame.size() && frame[i] >= '0' && frame[i] <= '9'; ++i) n = n * 10 + (frame[i] - '0');
  return n;
}

}  // namespace

FanoutResult run_fanout(const Endpoint& endpoint, const std::vector<FanoutSocket>& sockets,
                        const FanoutOptions& options) {
  asio::io_context io;
  const auto endpoints = resolve(io, endpoint);
  FanoutResult result;
  result.sockets = sockets.size();
  if (sockets.empty()) throw std::invalid_argument("fan-out needs at least one socket");

  std::vector<std::unique_ptr<WsClient>> clients;
  int rooms = 0;
  for (auto& s : sockets) {
    clients.push_back(std::make_unique<WsClient>(io));
    clients.back()->room = s.room;
    rooms = std::max(rooms, s.room + 1);
  }
  std::vector<std::vector<size_t>> room_members(static_cast<size_t>(rooms));
  const size_t message_count = static_cast<size_t>(std::max(options.messages, 0));
  std::vector<Clock::time_point> sent_at(message_count);
  std::vector<int> message_room(message_count, -1);
  bool stopping = false;
  auto last_receipt = Clock::now();
  auto first_send = Clock::now();
  // Wakes the sender when the last expected receipt arrived.
  asio::steady_timer drained(io, Clock::time_point::max());

  auto fail = [&](const std::string& what) { ++result.failures[what]; };

  auto reader = [&](WsClient& c) -> asio::awaitable<void> {
    while (true) {
      auto [ec, n] = co_await c.ws.async_read(c.buffer, kUseTuple);
      (void)n;
      if (ec) {
        c.open = false;
        if (!stopping) fail("socket closed: " + ec.message());
        co_return;
      }
      const auto now = Clock::now();
      std::string frame = beast::buffers_to_string(c.buffer.data());
      c.buffer.consume(c.buffer.size());
      if (frame.find("\"type\":\"error\"") != std::string::npos) {
        ++result.error_frames;
        fail("error frame: " + frame.substr(0, 200));
        continue;
      }
      const long long number = message_number(frame);
      if (number < 0 || static_cast<size_t>(number) >= message_count) continue;
      if (message_room[static_cast<size_t>(number)] < 0) continue;  // not sent by this run
      result.latencies.add(ms_between(sent_at[static_cast<size_t>(number)], now));
      ++result.receipts;
      last_receipt = now;
      if (result.receipts >= result.expected_receipts && result.messages_sent == message_count)
        drained.cancel();
    }
  };

  // Opens the sockets, `connect_concurrency` at a time.
  size_t next_socket = 0;
  auto connector = [&]() -> asio::awaitable<void> {
    while (next_socket < clients.size()) {
      const size_t i = next_socket++;
      auto& c = *clients[i];
      auto& tcp_layer = beast::get_lowest_layer(c.ws);
      tcp_layer.expires_after(std::chrono::seconds(30));
      auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, kUseTuple);
      (void)ep;
      if (cec) {
        fail("connect: " + cec.message());
        continue;
      }
      tcp_layer.socket().set_option(tcp::no_delay(true));
      auto [hec] = co_await c.ws.async_handshake(endpoint.host + ":" + endpoint.port,
                                                 sockets[i].target, kUseTuple);
      if (hec) {
        fail("handshake: " + hec.message());
        continue;
      }
      tcp_layer.expires_never();
      c.ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      c.ws.text(true);
      c.open = true;
      ++result.connected;
      room_members[static_cast<size_t>(c.room)].push_back(i);
      asio::co_spawn(io, reader(c), rethrow_if);
    }
  };

  // Closing at the end (outside the sender: a close may complete after the sender is gone).
  size_t closing = 0;
  asio::steady_timer closed(io);
  auto close_one = [&](WsClient* c) -> asio::awaitable<void> {
    auto [ec] = co_await c->ws.async_close(websocket::close_code::normal, kUseTuple);
    (void)ec;
    if (--closing == 0) closed.cancel();
  };

  auto sender = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io);
    timer.expires_after(seconds(options.settle_s));
    co_await timer.async_wait(kUseTuple);
    first_send = Clock::now();
    const auto period = seconds(1.0 / options.rate);
    std::vector<size_t> turn(static_cast<size_t>(rooms), 0);
    for (size_t m = 0; m < message_count; ++m) {
      const auto intended = first_send + period * static_cast<int64_t>(m);
      timer.expires_at(intended);
      co_await timer.async_wait(kUseTuple);
      const int room = static_cast<int>(m % static_cast<size_t>(rooms));
      auto& members = room_members[static_cast<size_t>(room)];
      // The next open socket of the room sends (every device of the room takes its turn).
      WsClient* from = nullptr;
      for (size_t tries = 0; tries < members.size() && !from; ++tries) {
        auto& candidate = *clients[members[turn[static_cast<size_t>(room)]++ % members.size()]];
        if (candidate.open) from = &candidate;
      }
      if (!from) {
        fail("no open socket in room " + std::to_string(room));
        continue;
      }
      size_t open_members = 0;
      for (size_t i : members) open_members += clients[i]->open ? 1 : 0;
      const std::string frame =
          "{\"type\":\"message\",\"content\":\"bfo:" + std::to_string(m) + "\"}";
      sent_at[m] = Clock::now();
      message_room[m] = room;
      result.expected_receipts += open_members;
      ++result.messages_sent;
      auto [ec, n] = co_await from->ws.async_write(asio::buffer(frame), kUseTuple);
      (void)n;
      if (ec) fail("send: " + ec.message());
    }
    if (result.receipts < result.expected_receipts) {
      drained.expires_after(seconds(options.drain_s));
      co_await drained.async_wait(kUseTuple);
    }
    result.seconds = std::chrono::duration<double>(last_receipt - first_send).count();
    stopping = true;
    // Close every socket: a close frame, whose answer ends its reader; sockets that have not
    // answered within 3 s are cut.
    closed.expires_after(std::chrono::seconds(3));
    for (auto& c : clients) {
      if (!c->open) continue;
      ++closing;
      asio::co_spawn(io, close_one(c.get()), rethrow_if);
    }
    if (closing > 0) co_await closed.async_wait(kUseTuple);
    for (auto& c : clients) {
      boost::system::error_code ignored;
      beast::get_lowest_layer(c->ws).socket().close(ignored);
    }
  };

  const auto connect_started = Clock::now();
  auto connect_all = [&]() -> asio::awaitable<void> {
    // The connectors run as one group; the sender starts when all of them are done.
    size_t running = static_cast<size_t>(std::max(options.connect_concurrency, 1));
    asio::steady_timer all_done(io, Clock::time_point::max());
    for (size_t i = 0; i < running; ++i) {
      asio::co_spawn(io, connector(), [&](std::exception_ptr e) {
        rethrow_if(e);
        if (--running == 0) all_done.cancel();
      });
    }
    co_await all_done.async_wait(kUseTuple);
    result.connect_seconds = std::chrono::duration<double>(Clock::now() - connect_started).count();
    std::cerr << "fanout: " << result.connected << " of " << clients.size() << " sockets open in "
              << result.connect_seconds << " s" << std::endl;
    co_await sender();
  };
  asio::co_spawn(io, connect_all(), rethrow_if);
  io.run();
  return result;
}

}  // namespace counsel::bench
