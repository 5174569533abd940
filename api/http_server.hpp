#pragma once
// The HTTP/1.1 server. This header is Beast-free on purpose: http_server.cpp is the only
// translation unit that includes Boost.Beast/Asio, which keeps compile times of everything
// else (handlers, router, tests) low.
//
// Threads: `io_threads` run the sockets (parsing, writing, timeouts); the handler runs on a
// bounded pool of `worker_threads`, because handlers block (PostgreSQL, waiting for command
// outcomes). A request that finds the pool's queue full (`max_queued_requests`) is answered
// 503 "overloaded" with Retry-After: 1 instead of queueing without bound.
//
// Limits: body > max_body_bytes ⇒ 413 "payload_too_large"; header block > max_header_bytes ⇒
// 431 "headers_too_large"; unparsable HTTP ⇒ 400 then close; an invalid percent-encoding (or
// an encoded NUL) in path or query ⇒ 400 "invalid_encoding". A connection is closed when no
// new request starts within idle_timeout, or a started request is not fully received within
// request_read_timeout (the same bound applies to writing a response). Connections beyond
// max_connections are accepted and closed at once. A throwing handler yields a 500
// "internal_error" problem (the exception text goes to stderr, never to the client).
//
// Every response carries `Server: counsel`; responses under /api also `Cache-Control:
// no-store` unless the handler set Cache-Control itself.
//
// WebSockets: a request with `Connection: upgrade` + `Upgrade: websocket` goes to the
// WebSocketUpgradeHandler (on a worker thread; it may block to authenticate and authorize).
// It answers either an HttpResponse (a 401/404 problem: no upgrade) or the callbacks of a new
// session. Beast stays in http_server.cpp; api code sees only WebSocketConnection, a
// message-level handle. Each connection has one outstanding write and a bounded queue of
// outgoing frames (ws_max_queued_frames / ws_max_queued_bytes): a consumer too slow to keep up
// is closed with 1008 "slow consumer" instead of growing memory. Incoming messages are capped at
// ws_max_message_bytes and handed to on_message one at a time per connection, in order, on a
// worker thread. The server pings an idle connection and closes one whose peer stays silent
// (ws_idle_timeout).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "api/http_message.hpp"

namespace counsel::api {

class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text frame. False if the connection is closed, or its queue overflowed (it is then
  // being closed with 1008); the caller need do nothing more either way.
  virtual bool send_text(std::string text) = 0;
  // Sends a close frame with `code` after the queued frames (1000 normal, 1008 policy, ...).
  virtual void close(uint16_t code, std::string reason) = 0;
  virtual bool is_open() const = 0;
};

struct WebSocketCallbacks {
  // After the handshake, before any message.
  std::function<void(const std::shared_ptr<WebSocketConnection>&)> on_open;
  std::function<void(const std::shared_ptr<WebSocketConnection>&, std::string text)> on_message;
  // Once, when the connection ended (either side).
  std::function<void(const std::shared_ptr<WebSocketConnection>&)> on_closed;
};

using WebSocketUpgradeHandler =
    std::function<std::variant<WebSocketCallbacks, HttpResponse>(const HttpRequest&)>;

// Runs on a worker thread; may block. Exceptions become a 500 problem.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0 ⇒ an ephemeral port, see HttpServer::port()
  int io_threads = 2;
  int worker_threads = 128;  // see infra/config.hpp
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds request_read_timeout{15};
  size_t max_connections = 10000;
  size_t max_queued_requests = 4096;
  size_t max_websockets = 5000;
  size_t ws_max_message_bytes = 64 << 10;
  size_t ws_max_queued_frames = 256;
  size_t ws_max_queued_bytes = 1 << 20;
  std::chrono::seconds ws_idle_timeout{30};  // a ping at half of it; closed after it
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler,
             WebSocketUpgradeHandler upgrade_handler = {});
  ~HttpServer();  // stop()s if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads; returns at once. Throws std::system_error when the
  // address cannot be bound.
  void start();
  // Graceful: stops accepting, closes idle connections, lets requests in progress finish
  // (bounded wait), then joins all threads. Idempotent.
  void stop();
  // The bound port (the actual one when options.port was 0); 0 before start().
  unsigned short port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace counsel::api
