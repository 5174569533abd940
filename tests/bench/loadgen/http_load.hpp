#pragma once
// HTTP and WebSocket load against a counsel api. Beast-free on purpose: http_load.cpp is the
// only translation unit of the load generator that includes Boost.Beast/Asio.
//
// Everything runs on one thread (one io_context): the load generator shares the machine's
// two cores with the server, and one core of coroutines drives thousands of requests per
// second and a thousand sockets.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "latencies.hpp"

namespace counsel::bench {

struct Endpoint {
  std::string host;
  std::string port;
};

// "http://host:port" (a trailing slash or path is ignored).
Endpoint parse_base_url(const std::string& url);

struct Request {
  std::string method = "GET";  // GET | POST
  std::string target;          // path and query
  std::string bearer;          // access token, or empty
  std::string body;            // JSON, or empty for no body
};

struct Response {
  int status = 0;  // 0: no response (transport error or timeout, see `error`)
  std::string body;
  std::string error;
};

struct LoadResult {
  double seconds = 0;  // from the first send to the last answer
  uint64_t sent = 0;
  uint64_t ok = 0;      // answered with the expected status
  uint64_t failed = 0;  // anything else
  // "409 slot_unavailable", "timeout", ...: what the failures were, counted.
  std::map<std::string, uint64_t> failures;
  Latencies latencies;  // of the ok answers, in ms
  // Open loop: how late the generator itself sent (its own lag, not the server's).
  double max_send_lag_ms = 0;
  uint64_t connections_opened = 0;
  bool exhausted = false;  // the request source ran dry before the time was up
};

// Gives the next request, or nullopt when there is none left.
using NextRequest = std::function<std::optional<Request>()>;

struct ClosedLoopOptions {
  int connections = 64;  // each sends its next request as soon as the previous one is answered
  double duration_s = 10;
  int expected_status = 200;
  double timeout_s = 30;
};

// `connections` clients back to back for `duration_s`: the throughput the server sustains.
LoadResult run_closed_loop(const Endpoint& endpoint, const NextRequest& next,
                           const ClosedLoopOptions& options);

struct OpenLoopOptions {
  double rate = 500;  // requests per second, sent on a fixed schedule whatever the answers do
  double duration_s = 10;
  int max_connections = 2000;  // a request finding none free waits (and its latency grows)
  int expected_status = 200;
  double timeout_s = 30;
};

// Requests at a fixed rate; each latency runs from the request's intended send time, so a
// stalled server cannot hide its stall by slowing the generator down (coordinated omission).
LoadResult run_open_loop(const Endpoint& endpoint, const NextRequest& next,
                         const OpenLoopOptions& options);

// One-off requests (sign-ins), `concurrency` at a time; the responses in request order.
std::vector<Response> run_batch(const Endpoint& endpoint, const std::vector<Request>& requests,
                                int concurrency, double timeout_s);

struct FanoutSocket {
  std::string target;  // /ws/chat/{room}?token=...
  int room = 0;        // index into the rooms
};

struct FanoutOptions {
  int messages = 200;     // in all, to the rooms in turn
  double rate = 20;       // messages per second
  double settle_s = 1.0;  // after every socket is open, before the first message
  double drain_s = 10.0;  // how long to wait for the last receipts
  int connect_concurrency = 50;
};

struct FanoutResult {
  size_t sockets = 0;
  size_t connected = 0;
  uint64_t messages_sent = 0;
  uint64_t expected_receipts = 0;  // every socket of a message's room receives it
  uint64_t receipts = 0;
  uint64_t error_frames = 0;
  std::map<std::string, uint64_t> failures;
  Latencies latencies;  // send -> each receipt, ms
  double connect_seconds = 0;
  double seconds = 0;  // first send to last receipt
};

// Opens every socket, then sends `messages` chat messages ({"type":"message"} frames, each
// from the next socket of its room in turn) and times each one's arrival at every socket of
// the room.
FanoutResult run_fanout(const Endpoint& endpoint, const std::vector<FanoutSocket>& sockets,
                        const FanoutOptions& options);

}  // namespace counsel::bench
