#include "api/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "api/problem.hpp"
#include "infra/logging.hpp"
#include "infra/thread_name.hpp"

namespace counsel::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// How long stop() waits for requests in progress before cutting connections.
constexpr std::chrono::seconds kStopGrace{10};
// After an error response on a connection we will not read further, keep draining what the
// client still sends for a moment: closing a socket with unread data makes the kernel send a
// reset, which can destroy the error response before the client has read it.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerMaxBytes = 16 << 20;
// A WebSocket asked to close gets this long to say goodbye before its socket is cut (a slow
// consumer's pending write may never finish).
constexpr std::chrono::seconds kWebSocketCloseGrace{2};
// Kernel send buffer of a WebSocket: with the frame queue it bounds what one slow reader can
// hold in memory (TCP autotuning would otherwise grow it to megabytes on loopback).
constexpr int kWebSocketSendBuffer = 64 << 10;

// A unit of work for the worker pool. `reject` answers without running the handler.
struct Job {
  virtual ~Job() = default;
  virtual void run() = 0;
  virtual void reject() = 0;
};

// A fixed set of threads with a bounded queue. Full queue ⇒ try_submit fails, the caller
// answers 503: under overload we shed load instead of growing latency without bound.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    threads_.reserve(static_cast<size_t>(std::max(threads, 1)));
    for (int i = 0; i < std::max(threads, 1); ++i)
      threads_.emplace_back([this] {
        name_this_thread("http-worker");
        work();
      });
  }
  ~WorkerPool() { stop(); }

  // On failure `job` is left with the caller.
  bool try_submit(std::unique_ptr<Job>& job) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || queue_.size() >= max_queued_) return false;
      queue_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

  // Runs what is queued, then joins.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  void work() {
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->run();
    }
  }

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

std::string to_lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

bool header_value_is_safe(std::string_view text) {
  return text.find_first_of("\r\n") == std::string_view::npos;
}

using BeastRequest = http::request<http::string_body>;
using BeastResponse = http::response<http::string_body>;

// Fills everything but the body, which the caller moves in. False ⇒ invalid target encoding.
bool translate_request(const BeastRequest& in, const std::string& remote_ip, HttpRequest& out) {
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  out.remote_ip = remote_ip;
  for (const auto& field : in) {
    std::string name = to_lower(field.name_string());
    auto [it, inserted] = out.headers.try_emplace(std::move(name), std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += std::string(field.value());
    }
  }

  auto parsed = boost::urls::parse_origin_form(out.target);
  if (!parsed) return false;
  out.path = parsed->path();
  if (has_nul(out.path)) return false;
  for (const auto& param : parsed->params()) {
    if (has_nul(param.key) || has_nul(param.value)) return false;
    out.query.emplace_back(param.key, param.value);
  }
  return true;
}

BeastResponse translate_response(HttpResponse&& in, unsigned version, bool keep_alive,
                                 std::string_view path, bool head_request = false) {
  BeastResponse out;
  out.version(version);
  out.result(static_cast<unsigned>(in.status));
  out.set(http::field::server, "counsel");
  bool has_cache_control = false;
  for (auto& [name, value] : in.headers) {
    if (!header_value_is_safe(name) || !header_value_is_safe(value) || name.empty()) continue;
    if (beast::iequals(name, "cache-control")) has_cache_control = true;
    out.insert(name, value);
  }
  if (!has_cache_control && path.starts_with("/api"))
    out.set(http::field::cache_control, "no-store");
  if (!in.body.empty() || in.status != 204) {
    if (header_value_is_safe(in.content_type)) out.set(http::field::content_type, in.content_type);
  }
  out.body() = std::move(in.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  // A HEAD response announces the length of the body it does not carry.
  if (head_request) out.body().clear();
  return out;
}

}  // namespace

struct HttpServer::Impl {
  // Lives as long as its connection's coroutine; stop() uses it to close idle connections.
  // Touched only on the connection's strand.
  struct Connection {
    asio::any_io_executor executor;       // the connection's strand
    beast::tcp_stream* stream = nullptr;  // null once the coroutine has ended
    bool busy = false;                    // a request is being handled: let it finish
  };

  Impl(HttpServerOptions opts, HttpHandler h, WebSocketUpgradeHandler u)
      : options(std::move(opts)), handler(std::move(h)), upgrade_handler(std::move(u)) {}

  HttpServerOptions options;
  HttpHandler handler;
  WebSocketUpgradeHandler upgrade_handler;

  struct WebSocketSession;
  std::mutex websockets_mutex;
  std::unordered_set<WebSocketSession*> websockets;  // open sessions, for stop()

  // Declared before io_context: coroutine frames destroyed with the io_context still
  // deregister themselves here.
  std::mutex connections_mutex;
  std::condition_variable connections_drained;
  std::unordered_set<std::shared_ptr<Connection>> connections;
  std::atomic<size_t> connection_count{0};
  std::atomic<bool> stopping{false};
  std::atomic<unsigned short> bound_port{0};
  bool started = false;
  bool stopped = false;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<WorkerPool> workers;
  std::vector<std::thread> io_threads;

  // --- handler on the worker pool, completion back on the connection's strand ---

  HttpResponse invoke_handler(const HttpRequest& request) noexcept {
    try {
      return handler(request);
    } catch (const std::exception& e) {
      logging::error("http",
                     "handler failed on " + request.method + " " + request.path + ": " + e.what());
    } catch (...) {
      logging::error("http", "handler failed on " + request.method + " " + request.path +
                                 ": unknown exception");
    }
    try {
      return problem_response(internal_error(), request.path);
    } catch (...) {
      HttpResponse bare;
      bare.status = 500;
      return bare;
    }
  }

  template <class Completion>
  struct HandlerJob final : Job {
    HandlerJob(Impl& s, Completion c, HttpRequest r)
        : server(s), completion(std::move(c)), request(std::move(r)) {}
    void run() override { complete(server.invoke_handler(request)); }
    void reject() override { complete(problem_response(overloaded(), request.path)); }
    void complete(HttpResponse response) {
      auto executor = asio::get_associated_executor(completion);
      asio::post(executor, [c = std::move(completion), r = std::move(response)]() mutable {
        std::move(c)(std::move(r));
      });
    }
    Impl& server;
    Completion completion;
    HttpRequest request;
  };

  using UpgradeOutcome = std::variant<WebSocketCallbacks, HttpResponse>;

  UpgradeOutcome invoke_upgrade_handler(const HttpRequest& request) noexcept {
    try {
      return upgrade_handler(request);
    } catch (const std::exception& e) {
      logging::error("http", "upgrade handler failed on " + request.path + ": " + e.what());
    } catch (...) {
      logging::error("http", "upgrade handler failed on " + request.path);
    }
    return problem_response(internal_error(), request.path);
  }

  template <class Completion>
  struct UpgradeJob final : Job {
    UpgradeJob(Impl& s, Completion c, HttpRequest r)
        : server(s), completion(std::move(c)), request(std::move(r)) {}
    void run() override { complete(server.invoke_upgrade_handler(request)); }
    void reject() override { complete(problem_response(overloaded(), request.path)); }
    void complete(UpgradeOutcome outcome) {
      auto executor = asio::get_associated_executor(completion);
      asio::post(executor, [c = std::move(completion), o = std::move(outcome)]() mutable {
        std::move(c)(std::move(o));
      });
    }
    Impl& server;
    Completion completion;
    HttpRequest request;
  };

  template <class Token>
  auto async_upgrade_decision(HttpRequest request, Token&& token) {
    return asio::async_initiate<Token, void(UpgradeOutcome)>(
        [this](auto completion, HttpRequest req) {
          using Completion = decltype(completion);
          std::unique_ptr<Job> job = std::make_unique<UpgradeJob<Completion>>(
              *this, std::move(completion), std::move(req));
          if (!workers->try_submit(job)) job->reject();
        },
        token, std::move(request));
  }

  // A plain task for the worker pool (WebSocket callbacks); false when the pool is full.
  struct TaskJob final : Job {
    explicit TaskJob(std::function<void()> f) : fn(std::move(f)) {}
    void run() override { fn(); }
    void reject() override {}
    std::function<void()> fn;
  };

  template <class Token>
  auto async_handle(HttpRequest request, Token&& token) {
    return asio::async_initiate<Token, void(HttpResponse)>(
        [this](auto completion, HttpRequest req) {
          using Completion = decltype(completion);
          std::unique_ptr<Job> job = std::make_unique<HandlerJob<Completion>>(
              *this, std::move(completion), std::move(req));
          if (!workers->try_submit(job)) job->reject();
        },
        token, std::move(request));
  }

  // --- WebSockets ---

  // One per upgraded connection. Strand-confined state: outbox, writing, close_requested.
  // send_text/close may be called from any thread; they post to the strand.
  struct WebSocketSession final : WebSocketConnection,
                                  std::enable_shared_from_this<WebSocketSession> {
    WebSocketSession(Impl& s, beast::tcp_stream&& stream, WebSocketCallbacks cb)
        : server(s), ws(std::move(stream)), callbacks(std::move(cb)), strand(ws.get_executor()) {}

    Impl& server;
    websocket::stream<beast::tcp_stream> ws;
    WebSocketCallbacks callbacks;
    asio::any_io_executor strand;
    std::atomic<bool> open{false};
    std::atomic<size_t> queued_frames{0};
    std::atomic<size_t> queued_bytes{0};
    // strand only
    std::deque<std::string> outbox;
    bool writing = false;
    std::optional<websocket::close_reason> close_requested;
    bool close_started = false;
    // callbacks run one at a time per connection, in arrival order
    std::mutex tasks_mutex;
    std::deque<std::function<void()>> tasks;
    bool tasks_running = false;

    bool is_open() const override { return open.load(); }

    bool send_text(std::string text) override {
      if (!open.load()) return false;
      const size_t size = text.size();
      const size_t frames = ++queued_frames;
      const size_t bytes = (queued_bytes += size);
      if (frames > server.options.ws_max_queued_frames ||
          bytes > server.options.ws_max_queued_bytes) {
        --queued_frames;
        queued_bytes -= size;
        drop_outbox_and_close(1008, "slow consumer");
        return false;
      }
      asio::post(strand, [self = shared_from_this(), t = std::move(text)]() mutable {
        self->outbox.push_back(std::move(t));
        self->pump();
      });
      return true;
    }

    void close(uint16_t code, std::string reason) override {
      if (!open.exchange(false)) return;
      asio::post(strand, [self = shared_from_this(), code, r = std::move(reason)]() mutable {
        self->close_requested =
            websocket::close_reason(static_cast<websocket::close_code>(code), r);
        self->pump();
      });
    }

    void drop_outbox_and_close(uint16_t code, const char* reason) {
      if (!open.exchange(false)) return;
      asio::post(strand, [self = shared_from_this(), code, reason] {
        for (auto& frame : self->outbox) {
          --self->queued_frames;
          self->queued_bytes -= frame.size();
        }
        self->outbox.clear();
        self->close_requested =
            websocket::close_reason(static_cast<websocket::close_code>(code), reason);
        self->pump();
      });
    }

    // Starts the single writer when there is something to write (strand).
    void pump() {
      if (writing) return;
      if (!outbox.empty() || (close_requested && !close_started)) {
        writing = true;
        asio::co_spawn(strand, write_loop(shared_from_this()), asio::detached);
      }
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<WebSocketSession> self) {
      while (!self->outbox.empty()) {
        std::string frame = std::move(self->outbox.front());
        self->outbox.pop_front();
        self->ws.text(true);
        auto [ec, n] = co_await self->ws.async_write(asio::buffer(frame), kUseTuple);
        (void)n;
        --self->queued_frames;
        self->queued_bytes -= frame.size();
        if (ec) {
          self->open = false;
          self->writing = false;
          co_return;  // the read loop ends on the same failure
        }
      }
      if (self->close_requested && !self->close_started) {
        self->close_started = true;
        // A peer that does not answer the close handshake is cut after the grace period.
        auto timer = std::make_shared<asio::steady_timer>(self->strand, kWebSocketCloseGrace);
        timer->async_wait([self, timer](beast::error_code ec) {
          if (!ec) {
            beast::error_code ignored;
            beast::get_lowest_layer(self->ws).socket().close(ignored);
          }
        });
        auto [ec] = co_await self->ws.async_close(*self->close_requested, kUseTuple);
        (void)ec;
      }
      self->writing = false;
    }

    // Queues a callback for the worker pool, keeping per-connection order.
    void run_task(std::function<void()> task) {
      {
        std::lock_guard lock(tasks_mutex);
        tasks.push_back(std::move(task));
        if (tasks_running) return;
        tasks_running = true;
      }
      std::unique_ptr<Job> job = std::make_unique<TaskJob>([self = shared_from_this()] {
        for (;;) {
          std::function<void()> next;
          {
            std::lock_guard lock(self->tasks_mutex);
            if (self->tasks.empty()) {
              self->tasks_running = false;
              return;
            }
            next = std::move(self->tasks.front());
            self->tasks.pop_front();
          }
          try {
            next();
          } catch (const std::exception& e) {
            logging::error("http", std::string("websocket callback failed: ") + e.what());
          }
        }
      });
      if (!server.workers->try_submit(job)) {
        {
          std::lock_guard lock(tasks_mutex);
          tasks.clear();
          tasks_running = false;
        }
        close(1013, "server overloaded");
      }
    }
  };

  asio::awaitable<void> run_websocket(beast::tcp_stream stream, BeastRequest request,
                                      WebSocketCallbacks callbacks) {
    {
      beast::error_code ignored;
      stream.socket().set_option(asio::socket_base::send_buffer_size(kWebSocketSendBuffer),
                                 ignored);
    }
    stream.expires_never();  // the websocket's own timeouts take over
    auto session =
        std::make_shared<WebSocketSession>(*this, std::move(stream), std::move(callbacks));
    auto& ws = session->ws;
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = options.ws_idle_timeout;
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.read_message_max(options.ws_max_message_bytes);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "counsel"); }));
    auto [accept_ec] = co_await ws.async_accept(request, kUseTuple);
    if (accept_ec) co_return;
    {
      std::lock_guard lock(websockets_mutex);
      websockets.insert(session.get());
    }
    session->open = true;
    if (stopping) session->close(1001, "server stopping");
    if (session->callbacks.on_open)
      session->run_task([session] { session->callbacks.on_open(session); });

    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buffer, kUseTuple);
      (void)n;
      if (ec) break;
      if (!ws.got_text()) {
        session->close(1003, "text frames only");
      } else if (session->callbacks.on_message && session->open) {
        session->run_task([session, text = beast::buffers_to_string(buffer.data())]() mutable {
          session->callbacks.on_message(session, std::move(text));
        });
      }
      buffer.consume(buffer.size());
    }
    session->open = false;
    {
      std::lock_guard lock(websockets_mutex);
      websockets.erase(session.get());
    }
    if (session->callbacks.on_closed)
      session->run_task([session] { session->callbacks.on_closed(session); });
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
  }

  // --- connections ---

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(ioc), kUseTuple);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        // Out of descriptors and the like: back off instead of spinning.
        asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
        co_await pause.async_wait(kUseTuple);
        continue;
      }
      if (connection_count.load() >= options.max_connections || stopping) {
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++connection_count;
      auto executor = socket.get_executor();
      asio::co_spawn(executor, serve(std::move(socket)), asio::detached);
    }
  }

  // Releases the connection slot however the coroutine ends (including destruction of its
  // frame when the io_context goes away).
  struct ConnectionSlot {
    Impl& server;
    std::shared_ptr<Connection> connection;
    ConnectionSlot(Impl& s, beast::tcp_stream& stream)
        : server(s), connection(std::make_shared<Connection>()) {
      connection->executor = stream.get_executor();
      connection->stream = &stream;
      std::lock_guard lock(server.connections_mutex);
      server.connections.insert(connection);
    }
    ~ConnectionSlot() {
      connection->stream = nullptr;
      std::lock_guard lock(server.connections_mutex);
      server.connections.erase(connection);
      --server.connection_count;
      server.connections_drained.notify_all();
    }
  };

  asio::awaitable<void> write_response(beast::tcp_stream& stream, BeastResponse response,
                                       beast::error_code& ec) {
    stream.expires_after(options.request_read_timeout);
    auto [write_ec, written] = co_await http::async_write(stream, response, kUseTuple);
    (void)written;
    ec = write_ec;
  }

  asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(kLingerTime);
    std::array<char, 16384> sink;
    size_t drained = 0;
    while (drained < kLingerMaxBytes) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
      if (ec) break;
      drained += n;
    }
    stream.socket().close(ignored);
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    ConnectionSlot slot(*this, stream);

    std::string remote_ip;
    {
      beast::error_code ec;
      auto endpoint = stream.socket().remote_endpoint(ec);
      if (!ec) remote_ip = endpoint.address().to_string();
    }

    // Larger than the header limit so the parser, not the buffer, reports oversized headers.
    beast::flat_buffer buffer(options.max_header_bytes + 8192);
    bool linger = false;

    while (!stopping) {
      if (buffer.size() == 0) {
        // Waiting for the first byte of the next request is the idle phase.
        stream.expires_after(options.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(
            buffer.prepare(std::min<size_t>(8192, buffer.max_size())), kUseTuple);
        if (ec) break;
        buffer.commit(n);
      }

      http::request_parser<http::string_body> parser;
      parser.header_limit(
          static_cast<std::uint32_t>(std::min<size_t>(options.max_header_bytes, UINT32_MAX)));
      parser.body_limit(options.max_body_bytes);
      stream.expires_after(options.request_read_timeout);
      auto [read_ec, read_n] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
      (void)read_n;
      if (!read_ec && !parser.is_done()) {
        // Clients that ask first (curl does for larger bodies) would otherwise stall ~1 s.
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
          auto [continue_ec, continue_n] = co_await http::async_write(stream, go_on, kUseTuple);
          (void)continue_n;
          if (continue_ec) break;
        }
        auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        (void)body_n;
        read_ec = body_ec;
      }

      if (read_ec) {
        std::optional<ApiError> error;
        if (read_ec == http::error::body_limit) {
          error = payload_too_large("The request body exceeds " +
                                    std::to_string(options.max_body_bytes) + " bytes.");
        } else if (read_ec == http::error::header_limit ||
                   read_ec == http::error::buffer_overflow) {
          error = headers_too_large("The request headers exceed " +
                                    std::to_string(options.max_header_bytes) + " bytes.");
        } else if (read_ec.category() ==
                       http::make_error_code(http::error::bad_method).category() &&
                   read_ec != http::error::end_of_stream &&
                   read_ec != http::error::partial_message) {
          error = bad_request("malformed_request", "The request is not valid HTTP/1.1.");
        }
        // Timeouts, resets and a client closing mid-request just end the connection.
        if (!error) break;
        beast::error_code write_ec;
        co_await write_response(
            stream, translate_response(problem_response(*error, "/"), 11, false, ""), write_ec);
        linger = !write_ec;
        break;
      }

      BeastRequest request = parser.release();
      const bool keep_alive = request.keep_alive();
      HttpRequest translated;
      HttpResponse response;
      std::string path;  // kept: `translated` moves to the worker
      const bool target_ok = translate_request(request, remote_ip, translated);
      path = target_ok ? translated.path : translated.target.substr(0, translated.target.find('?'));
      if (!target_ok) {
        response = problem_response(
            bad_request("invalid_encoding",
                        "The request target is not a valid, percent-encoded origin-form URI."),
            path);
      } else if (websocket::is_upgrade(request)) {
        bool full = false;
        {
          std::lock_guard lock(websockets_mutex);
          full = websockets.size() >= options.max_websockets;
        }
        if (!upgrade_handler) {
          response = problem_response(not_found("not_found", "No WebSocket endpoint at this path."),
                                      translated.path);
        } else if (full) {
          response = problem_response(overloaded(), translated.path);
        } else {
          slot.connection->busy = true;
          auto outcome =
              co_await async_upgrade_decision(std::move(translated), asio::use_awaitable);
          slot.connection->busy = false;
          if (auto* callbacks = std::get_if<WebSocketCallbacks>(&outcome)) {
            // From here the connection is a WebSocket; stop() reaches it through `websockets`.
            slot.connection->stream = nullptr;
            co_await run_websocket(std::move(stream), std::move(request), std::move(*callbacks));
            co_return;
          }
          response = std::move(std::get<HttpResponse>(outcome));
        }
      } else {
        translated.body = std::move(request.body());
        slot.connection->busy = true;
        response = co_await async_handle(std::move(translated), asio::use_awaitable);
        slot.connection->busy = false;
      }

      const bool keep_going = keep_alive && !stopping;
      beast::error_code write_ec;
      co_await write_response(stream,
                              translate_response(std::move(response), request.version(), keep_going,
                                                 path, request.method() == http::verb::head),
                              write_ec);
      if (write_ec || !keep_going) break;
    }

    if (linger) {
      co_await linger_close(stream);
    } else {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.socket().close(ignored);
    }
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler,
                       WebSocketUpgradeHandler upgrade_handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler),
                                   std::move(upgrade_handler))) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  Impl& s = *impl_;
  if (s.started) return;
  s.started = true;

  const auto address = asio::ip::make_address(s.options.address);
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.emplace(asio::make_strand(s.ioc));
  s.acceptor->open(endpoint.protocol());
  s.acceptor->set_option(asio::socket_base::reuse_address(true));
  s.acceptor->bind(endpoint);
  s.acceptor->listen(asio::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();

  s.workers = std::make_unique<WorkerPool>(s.options.worker_threads, s.options.max_queued_requests);
  s.work.emplace(s.ioc.get_executor());
  asio::co_spawn(s.acceptor->get_executor(), s.accept_loop(), asio::detached);
  const int io_threads = std::max(s.options.io_threads, 1);
  for (int i = 0; i < io_threads; ++i) {
    s.io_threads.emplace_back([&s] {
      name_this_thread("http-io");
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          // A coroutine escaped with an exception; keep serving the others.
          logging::error("http", std::string("io thread caught: ") + e.what());
        }
      }
    });
  }
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping = true;

  asio::post(s.acceptor->get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
  });

  {
    // Each session's close posts to its own strand; the sessions outlive this loop (their
    // coroutines hold them) until their read loops end.
    std::lock_guard lock(s.websockets_mutex);
    for (auto* session : s.websockets) session->close(1001, "server stopping");
  }
  {
    std::lock_guard lock(s.connections_mutex);
    for (const auto& connection : s.connections) {
      asio::post(connection->executor, [connection] {
        if (connection->stream != nullptr && !connection->busy) {
          beast::error_code ignored;
          connection->stream->socket().close(ignored);
        }
      });
    }
  }
  {
    std::unique_lock lock(s.connections_mutex);
    s.connections_drained.wait_for(lock, kStopGrace, [&s] { return s.connections.empty(); });
  }

  s.workers->stop();
  s.work.reset();
  s.ioc.stop();
  for (auto& thread : s.io_threads) {
    if (thread.joinable()) thread.join();
  }
}

unsigned short HttpServer::port() const {
  return impl_->bound_port.load();
}

}  // namespace counsel::api
