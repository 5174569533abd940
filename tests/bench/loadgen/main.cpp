// counsel_loadgen: the load generator and reference programs of tests/bench/run.
//
//   counsel_loadgen MODE [OPTIONS]     (counsel_loadgen MODE --help lists a mode's options)
//
// Modes print one JSON object on stdout (the figures) and progress on stderr:
//   book               POST /api/v1/sessions on distinct slots of the seed's slots file:
//                      closed loop (--concurrency clients back to back) or, with --rate, open
//                      loop at a fixed rate with latency from each request's intended send time
//   get                closed-loop GET of one path (the query, when wrk is not wanted)
//   fanout             chat fan-out: --sockets WebSockets over --rooms rooms of the manifest,
//                      --messages chat messages, latency from send to every receipt
//   copy-ref           raw COPY (pqxx::stream_to) rows/s into a copy of log.records
//   pg-read-ref        raw COPY TO STDOUT of the postgres engine's events
//   kafka-produce-ref  raw librdkafka produce msgs/s (counsel's producer settings)
//   kafka-read-ref     raw librdkafka consume msgs/s of a topic from its start
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench_inputs.hpp"
#include "http_load.hpp"
#include "latencies.hpp"
#include "references.hpp"

namespace po = boost::program_options;
using namespace counsel::bench;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string manifest;
  std::string slots_file;
  size_t slot_offset = 0;
  size_t max_slots = 0;
  int concurrency = 64;
  double rate = 0;
  double duration = 10;
  double timeout = 30;
  std::string token_cache;
  int login_concurrency = 4;
  int duration_minutes = 60;
  std::string session_mode = "video";
  std::string path;
  std::string token;
  std::string as_email;
  int expected_status = 200;
  int sockets = 1000;
  int rooms = 1;
  int messages = 200;
  double settle = 1;
  double drain = 10;
  std::string db;
  std::string sample;
  long long rows = 200000;
  std::string brokers;
  std::string topic;
  std::string kafka_config;
  int max_connections = 2000;
};

po::options_description describe(Options& o) {
  po::options_description d("Options");
  // clang-format off
  d.add_options()
    ("help,h", "show this help")
    ("url", po::value(&o.url)->default_value(o.url), "counsel api base URL")
    ("manifest", po::value(&o.manifest), "the seed's manifest (JSON)")
    ("slots-file", po::value(&o.slots_file), "book: slots file (default: the manifest's)")
    ("slot-offset", po::value(&o.slot_offset)->default_value(o.slot_offset),
     "book: first slot line to use (slots used by earlier runs are taken)")
    ("max-slots", po::value(&o.max_slots)->default_value(o.max_slots),
     "book: read at most this many slots (0: rate x duration x 1.2 open loop, 8000/s x duration closed)")
    ("concurrency", po::value(&o.concurrency)->default_value(o.concurrency),
     "book/get: clients back to back (closed loop)")
    ("rate", po::value(&o.rate)->default_value(o.rate),
     "book: requests per second (open loop); 0: closed loop")
    ("duration", po::value(&o.duration)->default_value(o.duration), "seconds of load")
    ("timeout", po::value(&o.timeout)->default_value(o.timeout), "seconds per request")
    ("max-connections", po::value(&o.max_connections)->default_value(o.max_connections),
     "book open loop: connections at most")
    ("token-cache", po::value(&o.token_cache), "file of email<TAB>access token lines kept between runs")
    ("login-concurrency", po::value(&o.login_concurrency)->default_value(o.login_concurrency),
     "sign-ins at a time (argon2id is CPU- and memory-hungry)")
    ("duration-minutes", po::value(&o.duration_minutes)->default_value(o.duration_minutes),
     "book: session length")
    ("session-mode", po::value(&o.session_mode)->default_value(o.session_mode), "book: chat | video | in_person")
    ("path", po::value(&o.path), "get: path and query")
    ("token", po::value(&o.token), "get: bearer token")
    ("as", po::value(&o.as_email), "get: sign in as this user of the manifest instead of --token")
    ("expected-status", po::value(&o.expected_status)->default_value(o.expected_status), "get: status that counts as success")
    ("sockets", po::value(&o.sockets)->default_value(o.sockets), "fanout: WebSockets in all")
    ("rooms", po::value(&o.rooms)->default_value(o.rooms),
     "fanout: rooms of the manifest the sockets spread over (each room's client and counsellor, alternately)")
    ("messages", po::value(&o.messages)->default_value(o.messages), "fanout: messages in all, to the rooms in turn")
    ("settle", po::value(&o.settle)->default_value(o.settle), "fanout: seconds between the last socket opening and the first message")
    ("drain", po::value(&o.drain)->default_value(o.drain), "fanout: seconds to wait for late receipts")
    ("db", po::value(&o.db), "references: libpq connection string")
    ("sample", po::value(&o.sample), "references: JSON Lines of real events (counsel audit replay)")
    ("rows", po::value(&o.rows)->default_value(o.rows), "copy-ref / kafka-produce-ref: rows or messages")
    ("brokers", po::value(&o.brokers), "kafka references: bootstrap servers")
    ("topic", po::value(&o.topic), "kafka references: topic")
    ("kafka-config", po::value(&o.kafka_config), "kafka references: extra librdkafka settings k=v,k=v");
  // clang-format on
  return d;
}

std::string json_escape(const std::string& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return {sb.GetString(), sb.GetSize()};
}

class JsonOut {
 public:
  JsonOut() : w_(sb_) { w_.StartObject(); }
  JsonOut& str(const char* k, const std::string& v) {
    w_.Key(k);
    w_.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  JsonOut& num(const char* k, double v) {
    w_.Key(k);
    w_.Double(v);
    return *this;
  }
  JsonOut& integer(const char* k, long long v) {
    w_.Key(k);
    w_.Int64(v);
    return *this;
  }
  JsonOut& boolean(const char* k, bool v) {
    w_.Key(k);
    w_.Bool(v);
    return *this;
  }
  JsonOut& counts(const char* k, const std::map<std::string, uint64_t>& m) {
    w_.Key(k);
    w_.StartObject();
    for (auto& [name, n] : m) {
      w_.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
      w_.Uint64(n);
    }
    w_.EndObject();
    return *this;
  }
  JsonOut& latencies(Latencies& l) {
    num("p50_ms", l.percentile(50));
    num("p90_ms", l.percentile(90));
    num("p99_ms", l.percentile(99));
    num("max_ms", l.max());
    num("mean_ms", l.mean());
    integer("samples", static_cast<long long>(l.count()));
    return *this;
  }
  void print() {
    w_.EndObject();
    std::cout << sb_.GetString() << std::endl;
  }

 private:
  rapidjson::StringBuffer sb_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

// Access tokens for `emails`: from the cache, else by signing in (and then cached).
std::map<std::string, std::string> tokens_for(const Endpoint& endpoint, const Options& o,
                                              const std::string& password,
                                              const std::set<std::string>& emails) {
  TokenCache cache(o.token_cache);
  std::vector<std::string> missing;
  std::map<std::string, std::string> out;
  for (auto& e : emails) {
    if (auto* t = cache.find(e)) {
      out[e] = *t;
    } else {
      missing.push_back(e);
    }
  }
  if (missing.empty()) return out;
  const auto started = Clock::now();
  std::cerr << "signing in " << missing.size() << " users (" << out.size() << " cached)..."
            << std::endl;
  std::vector<Request> requests;
  for (auto& e : missing) {
    requests.push_back(
        {"POST", "/api/v1/auth/login", "",
         "{\"email\":" + json_escape(e) + ",\"password\":" + json_escape(password) + "}"});
  }
  auto responses = run_batch(endpoint, requests, o.login_concurrency, 60);
  for (size_t i = 0; i < missing.size(); ++i) {
    const auto token = json_string_member(responses[i].body, "access_token");
    if (responses[i].status != 200 || token.empty()) {
      cache.save();
      throw std::runtime_error("sign-in of " + missing[i] + " failed: " +
                               (responses[i].status ? std::to_string(responses[i].status) + " " +
                                                          responses[i].body.substr(0, 300)
                                                    : responses[i].error));
    }
    cache.put(missing[i], token);
    out[missing[i]] = token;
  }
  cache.save();
  std::cerr << "signed in " << missing.size() << " users in "
            << std::chrono::duration<double>(Clock::now() - started).count() << " s" << std::endl;
  return out;
}

void print_load(const char* mode, LoadResult& r, JsonOut& out) {
  out.str("mode", mode)
      .integer("sent", static_cast<long long>(r.sent))
      .integer("ok", static_cast<long long>(r.ok))
      .integer("failed", static_cast<long long>(r.failed))
      .num("seconds", r.seconds)
      .num("throughput", r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0)
      .latencies(r.latencies)
      .boolean("exhausted", r.exhausted)
      .num("max_send_lag_ms", r.max_send_lag_ms)
      .integer("connections_opened", static_cast<long long>(r.connections_opened))
      .counts("failures", r.failures);
}

int run_book(const Options& o) {
  if (o.manifest.empty()) throw std::invalid_argument("book needs --manifest");
  const auto endpoint = parse_base_url(o.url);
  const auto manifest = read_manifest(o.manifest);
  const std::string slots_file = o.slots_file.empty() ? manifest.slots_file : o.slots_file;
  size_t max_slots = o.max_slots;
  if (max_slots == 0) {
    max_slots = o.rate > 0 ? static_cast<size_t>(o.rate * o.duration * 1.2) + 10
                           : static_cast<size_t>(8000 * o.duration);
  }
  auto slots = read_slots(slots_file, o.slot_offset, max_slots);
  if (slots.empty()) throw std::runtime_error("no slots left in " + slots_file);
  std::set<std::string> emails;
  for (auto& s : slots) emails.insert(s.client_email);
  const auto login_started = Clock::now();
  auto tokens = tokens_for(endpoint, o, manifest.password, emails);
  const double login_seconds = std::chrono::duration<double>(Clock::now() - login_started).count();

  size_t next = 0;
  NextRequest source = [&]() -> std::optional<Request> {
    if (next >= slots.size()) return std::nullopt;
    const Slot& s = slots[next++];
    return Request{"POST", "/api/v1/sessions", tokens.at(s.client_email),
                   "{\"counselor_id\":" + json_escape(s.counselor_id) +
                       ",\"start\":" + json_escape(s.starts_at) +
                       ",\"duration_minutes\":" + std::to_string(o.duration_minutes) +
                       ",\"topic\":\"benchmark booking\",\"mode\":" + json_escape(o.session_mode) +
                       "}"};
  };
  if (o.rate > 0) {
    std::cerr << "open loop at " << o.rate << "/s";
  } else {
    std::cerr << "closed loop, " << o.concurrency << " clients";
  }
  std::cerr << " for " << o.duration << " s on " << slots.size() << " slots from line "
            << o.slot_offset << std::endl;
  LoadResult r;
  if (o.rate > 0) {
    r = run_open_loop(endpoint, source, {o.rate, o.duration, o.max_connections, 201, o.timeout});
  } else {
    r = run_closed_loop(endpoint, source, {o.concurrency, o.duration, 201, o.timeout});
  }
  JsonOut out;
  print_load(o.rate > 0 ? "book-open" : "book-closed", r, out);
  out.integer("slots_used", static_cast<long long>(next))
      .integer("next_slot_offset", static_cast<long long>(o.slot_offset + next))
      .num("login_seconds", login_seconds)
      .integer("clients", static_cast<long long>(emails.size()));
  out.print();
  return 0;
}

int run_get(const Options& o) {
  if (o.path.empty()) throw std::invalid_argument("get needs --path");
  const auto endpoint = parse_base_url(o.url);
  std::string token = o.token;
  if (token.empty() && !o.as_email.empty()) {
    if (o.manifest.empty()) throw std::invalid_argument("--as needs --manifest");
    const auto manifest = read_manifest(o.manifest);
    token = tokens_for(endpoint, o, manifest.password, {o.as_email}).at(o.as_email);
  }
  const Request request{"GET", o.path, token, ""};
  NextRequest source = [&]() -> std::optional<Request> { return request; };
  auto r =
      run_closed_loop(endpoint, source, {o.concurrency, o.duration, o.expected_status, o.timeout});
  JsonOut out;
  print_load("get", r, out);
  out.print();
  return 0;
}

int run_fanout_mode(const Options& o) {
  if (o.manifest.empty()) throw std::invalid_argument("fanout needs --manifest");
  const auto endpoint = parse_base_url(o.url);
  const auto manifest = read_manifest(o.manifest);
  if (o.rooms < 1 || static_cast<size_t>(o.rooms) > manifest.chat_rooms.size())
    throw std::invalid_argument("--rooms must be between 1 and the manifest's " +
                                std::to_string(manifest.chat_rooms.size()) + " chat rooms");
  if (o.sockets < 2 * o.rooms)
    throw std::invalid_argument("--sockets must be at least 2 x --rooms");
  std::set<std::string> emails;
  for (int r = 0; r < o.rooms; ++r) {
    emails.insert(manifest.chat_rooms[static_cast<size_t>(r)].client_email);
    emails.insert(manifest.chat_rooms[static_cast<size_t>(r)].counselor_email);
  }
  auto tokens = tokens_for(endpoint, o, manifest.password, emails);
  // Socket i joins room i % rooms as the room's client or counsellor, alternately: each
  // participant is connected from many devices, every one of which receives every message.
  std::vector<FanoutSocket> sockets;
  for (int i = 0; i < o.sockets; ++i) {
    const int room = i % o.rooms;
    const auto& spec = manifest.chat_rooms[static_cast<size_t>(room)];
    const bool as_client = (i / o.rooms) % 2 == 0;
    const auto& token = tokens.at(as_client ? spec.client_email : spec.counselor_email);
    sockets.push_back({"/ws/chat/" + spec.room_id + "?token=" + token, room});
  }
  FanoutOptions options;
  options.messages = o.messages;
  options.rate = o.rate > 0 ? o.rate : 20;
  options.settle_s = o.settle;
  options.drain_s = o.drain;
  auto r = run_fanout(endpoint, sockets, options);
  JsonOut out;
  out.str("mode", "fanout")
      .integer("sockets", static_cast<long long>(r.sockets))
      .integer("connected", static_cast<long long>(r.connected))
      .integer("rooms", o.rooms)
      .integer("messages_sent", static_cast<long long>(r.messages_sent))
      .integer("expected_receipts", static_cast<long long>(r.expected_receipts))
      .integer("receipts", static_cast<long long>(r.receipts))
      .integer("error_frames", static_cast<long long>(r.error_frames))
      .num("connect_seconds", r.connect_seconds)
      .num("seconds", r.seconds)
      .latencies(r.latencies)
      .counts("failures", r.failures);
  out.print();
  return 0;
}

KafkaSettings parse_kafka_config(const std::string& text) {
  KafkaSettings out;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("--kafka-config: expected key=value, got " + item);
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

void print_reference(const char* mode, const ReferenceResult& r) {
  JsonOut out;
  out.str("mode", mode)
      .integer("items", r.items)
      .num("seconds", r.seconds)
      .num("per_second", r.seconds > 0 ? static_cast<double>(r.items) / r.seconds : 0)
      .integer("bytes", r.bytes)
      .num("mb_per_second", r.seconds > 0 ? static_cast<double>(r.bytes) / r.seconds / 1e6 : 0)
      .integer("errors", r.errors)
      .str("detail", r.detail);
  out.print();
}

int run_mode(const std::string& mode, const Options& o) {
  if (mode == "book") return run_book(o);
  if (mode == "get") return run_get(o);
  if (mode == "fanout") return run_fanout_mode(o);
  if (mode == "copy-ref") {
    if (o.db.empty() || o.sample.empty())
      throw std::invalid_argument("copy-ref needs --db and --sample");
    print_reference("copy-ref", copy_reference(o.db, read_lines(o.sample, 100000), o.rows));
    return 0;
  }
  if (mode == "pg-read-ref") {
    if (o.db.empty()) throw std::invalid_argument("pg-read-ref needs --db");
    print_reference("pg-read-ref", pg_read_reference(o.db));
    return 0;
  }
  if (mode == "kafka-produce-ref") {
    if (o.brokers.empty() || o.sample.empty())
      throw std::invalid_argument("kafka-produce-ref needs --brokers and --sample");
    print_reference("kafka-produce-ref",
                    kafka_produce_reference(
                        o.brokers, o.topic.empty() ? "counsel.bench.reference" : o.topic,
                        read_lines(o.sample, 100000), o.rows, parse_kafka_config(o.kafka_config)));
    return 0;
  }
  if (mode == "kafka-read-ref") {
    if (o.brokers.empty()) throw std::invalid_argument("kafka-read-ref needs --brokers");
    print_reference("kafka-read-ref",
                    kafka_read_reference(o.brokers, o.topic.empty() ? "counsel.events.v1" : o.topic,
                                         parse_kafka_config(o.kafka_config)));
    return 0;
  }
  std::cerr << "counsel_loadgen: unknown mode '" << mode << "'\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: counsel_loadgen MODE [OPTIONS]\n"
      "modes: book, get, fanout, copy-ref, pg-read-ref, kafka-produce-ref, kafka-read-ref\n";
  if (argc < 2 || std::string(argv[1]).starts_with("-")) {
    std::cerr << usage;
    return 2;
  }
  const std::string mode = argv[1];
  Options o;
  auto description = describe(o);
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - 1, argv + 1, description), vm);
    if (vm.count("help")) {
      std::cout << usage << description;
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "counsel_loadgen: " << e.what() << "\n" << usage;
    return 2;
  }
  try {
    return run_mode(mode, o);
  } catch (const std::invalid_argument& e) {
    std::cerr << "counsel_loadgen " << mode << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "counsel_loadgen " << mode << ": " << e.what() << "\n";
    return 1;
  }
}
