#include "api/cli/audit_replay.hpp"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "api/cli/event_chain.hpp"
#include "domain/json.hpp"

namespace counsel::api {
namespace {

constexpr size_t kBatchSize = 2000;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// True when `v` holds `id` in a member named *_id, or in an array member named *_ids, at any
// depth: ids of the people an event concerns are always named that way.
bool mentions_id(const json::Value& v, std::string_view id) {
  if (v.IsArray()) {
    for (auto& item : v.GetArray())
      if (mentions_id(item, id)) return true;
    return false;
  }
  if (!v.IsObject()) return false;
  for (auto& m : v.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsString() && ends_with(name, "_id") &&
        std::string_view(m.value.GetString(), m.value.GetStringLength()) == id)
      return true;
    if (m.value.IsArray() && ends_with(name, "_ids")) {
      for (auto& item : m.value.GetArray())
        if (item.IsString() && std::string_view(item.GetString(), item.GetStringLength()) == id)
          return true;
    }
    if ((m.value.IsObject() || m.value.IsArray()) && mentions_id(m.value, id)) return true;
  }
  return false;
}

bool type_matches(const std::string& type, const std::string& pattern) {
  if (!pattern.empty() && pattern.back() == '*')
    return type.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return type == pattern;
}

std::optional<ReplayPosition> parse_position(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  int64_t partition = 0, offset = 0;
  auto p = text.substr(0, colon), o = text.substr(colon + 1);
  auto [pe, pec] = std::from_chars(p.data(), p.data() + p.size(), partition);
  auto [oe, oec] = std::from_chars(o.data(), o.data() + o.size(), offset);
  if (p.empty() || o.empty() || pec != std::errc() || oec != std::errc() ||
      pe != p.data() + p.size() || oe != o.data() + o.size() || partition < 0 || partition > 1024 ||
      offset < 0)
    return std::nullopt;
  return ReplayPosition{static_cast<int32_t>(partition), offset};
}

void write_csv_header(std::ostream& out) {
  out << "partition,offset,occurred_at,type,stream,sequence,actor_id,actor_role,event_id,hash,"
         "data\n";
}

void write_csv_row(std::ostream& out, const log::Record& rec, const EventEnvelope& e) {
  out << rec.partition.value() << ',' << rec.offset.value() << ',' << format_rfc3339(e.occurred_at)
      << ',' << csv_field(e.type) << ',' << csv_field(e.stream) << ',' << e.sequence << ','
      << e.actor.id.value().str() << ',' << csv_field(to_string(e.actor.role)) << ','
      << e.id.value().str() << ',' << e.hash << ',' << csv_field(e.data_json) << '\n';
}

// The envelope exactly as logged, with its log offset in front: dropping "offset" (and
// "hash") gives back the bytes the hash covers, so anyone can re-check the output.
void write_jsonl_line(std::ostream& out, const log::Record& rec) {
  std::string_view value = rec.value;
  out << "{\"offset\":" << rec.offset.value() << ',' << value.substr(1) << '\n';
}

}  // namespace

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

bool ReplayFilter::matches(const EventEnvelope& e) const {
  if (from_time && e.occurred_at < *from_time) return false;
  if (to_time && e.occurred_at >= *to_time) return false;
  if (actor && e.actor.id.value() != *actor) return false;
  if (!stream.empty() && e.stream != stream) return false;
  if (!types.empty()) {
    bool any = false;
    for (auto& t : types) any = any || type_matches(e.type, t);
    if (!any) return false;
  }
  if (subject) {
    const std::string id = subject->str();
    if (e.stream == "account-" + id || e.stream == "counselor-" + id) return true;
    // Cheap test first: most events do not mention the id at all.
    if (e.data_json.find(id) == std::string::npos) return false;
    auto data = json::parse(e.data_json, nullptr, 64);
    if (!data || !mentions_id(*data, id)) return false;
  }
  return true;
}

Expected<ReplayOptions, std::string> parse_replay_options(const Config& config) {
  ReplayOptions options;
  auto& f = options.filter;
  auto bound = [&](const std::string& text, const char* flag, std::optional<Timestamp>& time,
                   std::optional<ReplayPosition>& position) -> std::string {
    if (text.empty()) return "";
    if (auto p = parse_position(text)) {
      position = p;
      return "";
    }
    if (auto t = parse_rfc3339(text)) {
      time = t;
      return "";
    }
    return std::string(flag) + " '" + text +
           "' is neither a position P:O (e.g. 3:120) nor an RFC 3339 time (e.g. "
           "2025-01-31T00:00:00Z)";
  };
  if (auto e = bound(config.audit_from, "--from", f.from_time, f.from_position); !e.empty())
    return unexpected(e);
  if (auto e = bound(config.audit_to, "--to", f.to_time, f.to_position); !e.empty())
    return unexpected(e);
  if (f.from_position && f.to_position && f.from_position->partition != f.to_position->partition)
    return unexpected(std::string(
        "--from and --to positions name different partitions; offsets are per partition"));
  for (auto [text, flag, out] : {std::tuple{&config.audit_actor, "--actor", &f.actor},
                                 std::tuple{&config.audit_subject, "--subject", &f.subject}}) {
    if (text->empty()) continue;
    auto id = Uuid::parse(*text);
    if (!id) return unexpected(std::string(flag) + " '" + *text + "' is not a UUID");
    *out = *id;
  }
  f.stream = config.audit_stream;
  for (auto& list : config.audit_types) {
    std::stringstream items(list);
    std::string item;
    while (std::getline(items, item, ','))
      if (!item.empty()) f.types.push_back(item);
  }
  if (config.audit_format == "csv")
    options.format = ReplayFormat::csv;
  else if (config.audit_format != "jsonl")
    return unexpected("--format must be jsonl or csv, not '" + config.audit_format + "'");
  options.output = config.audit_output;
  return options;
}

ReplayReport replay_events(log::Log& log, const ReplayOptions& options, std::ostream& out,
                           const std::function<void(const ReplayProgress&)>& progress) {
  const auto& f = options.filter;
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  struct Range {
    int32_t partition;
    int64_t from, end;
  };
  std::vector<Range> ranges;
  ReplayProgress state;
  for (int32_t p = 0; p < log.partition_count(); ++p) {
    if (f.from_position && f.from_position->partition != p) continue;
    if (f.to_position && f.to_position->partition != p) continue;
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    Range r{p, f.from_position ? f.from_position->offset : 0, end->value()};
    if (f.to_position) r.end = std::min(r.end, f.to_position->offset);
    if (r.from < r.end) {
      ranges.push_back(r);
      state.events_total += r.end - r.from;
    }
  }
  if (options.format == ReplayFormat::csv) write_csv_header(out);
  auto reader = log.reader();
  for (auto& r : ranges) {
    read_partition(*reader, r.partition, r.from, r.end, kBatchSize,
                   [&](const std::vector<log::Record>& batch) {
                     for (auto& rec : batch) {
                       ++state.events_read;
                       std::string error;
                       auto e = decode_event(rec.value, &error);
                       if (!e)
                         throw std::runtime_error("partition " + std::to_string(r.partition) +
                                                  " offset " + std::to_string(rec.offset.value()) +
                                                  " is not an event envelope (" + error +
                                                  "); see counsel audit verify");
                       if (!f.matches(*e)) continue;
                       ++state.events_written;
                       if (options.format == ReplayFormat::csv)
                         write_csv_row(out, rec, *e);
                       else
                         write_jsonl_line(out, rec);
                     }
                     if (!out) throw std::runtime_error("cannot write the output");
                     state.seconds = elapsed();
                     if (progress) progress(state);
                     return true;
                   });
  }
  out.flush();
  if (!out) throw std::runtime_error("cannot write the output");
  return {state.events_read, state.events_written, elapsed()};
}

int run_audit_replay(log::Log& log, const ReplayOptions& options, std::ostream& err,
                     bool err_is_terminal) {
  auto last_print = std::chrono::steady_clock::time_point{};
  auto show_progress = [&](const ReplayProgress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_print < std::chrono::milliseconds(200)) return;
    last_print = now;
    const double rate = p.seconds > 0 ? p.events_read / p.seconds : 0;
    const int pct =
        p.events_total > 0 ? static_cast<int>(p.events_read * 100 / p.events_total) : 100;
    constexpr int kBarWidth = 30;
    const int filled = pct * kBarWidth / 100;
    err << "\r[" << std::string(filled, '#') << std::string(kBarWidth - filled, ' ') << "] "
        << p.events_read << "/" << p.events_total << " events, " << static_cast<int64_t>(rate)
        << " events/s, ETA ";
    if (rate > 0)
      err << static_cast<int64_t>((p.events_total - p.events_read) / rate) << " s   ";
    else
      err << "?   ";
    err << std::flush;
  };
  std::function<void(const ReplayProgress&)> progress;
  if (err_is_terminal) progress = show_progress;

  ReplayReport report;
  if (options.output.empty()) {
    // A large buffer: stdout is line-buffered on a terminal and slow when piped line by line.
    std::ios::sync_with_stdio(false);
    report = replay_events(log, options, std::cout, progress);
  } else {
    // Readers of the file never see half a replay: write beside it, then rename.
    const std::filesystem::path target(options.output);
    auto temporary = target;
    temporary += ".tmp-" + std::to_string(getpid());
    try {
      std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
      if (!file) throw std::runtime_error("cannot create " + temporary.string());
      report = replay_events(log, options, file, progress);
      file.close();
      if (!file) throw std::runtime_error("cannot write " + temporary.string());
      std::filesystem::rename(temporary, target);
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      throw;
    }
  }
  if (err_is_terminal) err << "\n";
  const double rate = report.seconds > 0 ? report.events_read / report.seconds : 0;
  err << "replayed " << report.events_written << " of " << report.events_read << " events in "
      << std::fixed << std::setprecision(2) << report.seconds << " s ("
      << static_cast<int64_t>(rate) << " events/s)" << std::endl;
  return 0;
}

}  // namespace counsel::api
