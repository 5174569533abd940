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
// WebSocket extension point: a request with `Connection: upgrade` + `Upgrade: websocket` is
// recognised by the server before it reaches the handler. Today there are no WebSocket routes,
// so every upgrade is answered with a 404 "not_found" problem. The chat issue adds them by
// (1) giving HttpServer a `WebSocketUpgradeHandler` (see the sketch below) consulted for
// upgrade requests, and (2) implementing the Beast websocket session inside http_server.cpp,
// exposing only the message-level `WebSocketConnection` interface to api code:
//
//   class WebSocketConnection {              // implemented in http_server.cpp
//    public: virtual void send_text(std::string) = 0; virtual void close() = 0; };
//   struct WebSocketCallbacks {              // provided by the route
//     std::function<void(std::shared_ptr<WebSocketConnection>)> on_open;
//     std::function<void(std::string_view text)> on_message;  // runs on a worker thread
//     std::function<void()> on_closed; };
//   // An HttpResponse (e.g. a 401/404 problem) is sent instead of upgrading.
//   using WebSocketUpgradeHandler = std::function<
//       std::variant<WebSocketCallbacks, HttpResponse>(const HttpRequest&)>;
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "api/http_message.hpp"

namespace counsel::api {

// Runs on a worker thread; may block. Exceptions become a 500 problem.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0 ⇒ an ephemeral port, see HttpServer::port()
  int io_threads = 2;
  int worker_threads = 32;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds request_read_timeout{15};
  size_t max_connections = 10000;
  size_t max_queued_requests = 4096;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
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
