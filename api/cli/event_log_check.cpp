#include "api/cli/event_log_check.hpp"

#include <rapidjson/schema.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>

#include "domain/events/envelope.hpp"
#include "domain/json.hpp"

namespace counsel::api {
namespace {

class SchemaSet {
 public:
  explicit SchemaSet(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // nullptr when the type has no schema file.
  const rapidjson::SchemaDocument* get(const std::string& type, int version) {
    std::string name = type + ".v" + std::to_string(version) + ".json";
    auto it = schemas_.find(name);
    if (it != schemas_.end()) return it->second.get();
    std::ifstream in(dir_ / name);
    std::unique_ptr<rapidjson::SchemaDocument> schema;
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      json::Document doc;
      doc.Parse(ss.str().c_str());
      if (!doc.HasParseError()) schema = std::make_unique<rapidjson::SchemaDocument>(doc);
    }
    auto* raw = schema.get();
    schemas_.emplace(name, std::move(schema));
    return raw;
  }

 private:
  std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<rapidjson::SchemaDocument>> schemas_;
};

}  // namespace

std::filesystem::path default_schemas_dir() {
  if (const char* dir = std::getenv("COUNSEL_SCHEMAS_DIR"); dir && *dir) return dir;
#ifdef COUNSEL_SCHEMAS_DIR
  return COUNSEL_SCHEMAS_DIR;
#else
  return "domain/events/schemas";
#endif
}

LogCheckReport check_event_log(log::Log& log, const std::filesystem::path& schemas_dir,
                               std::ostream* progress) {
  LogCheckReport report;
  SchemaSet schemas(schemas_dir);
  auto problem = [&](int p, int64_t o, const std::string& why) {
    if (report.first_problem.empty())
      report.first_problem =
          "partition " + std::to_string(p) + " offset " + std::to_string(o) + ": " + why;
  };
  for (int p = 0; p < log.partition_count(); ++p) {
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    auto reader = log.reader();
    reader->assign(log::Topic::events, {{log::PartitionId{p}, log::Offset{0}}});
    std::string prev_hash;
    int64_t expected_offset = 0;
    std::unordered_map<std::string, int64_t> sequences;
    while (expected_offset < end->value()) {
      auto batch = reader->poll(5000, std::chrono::milliseconds(500));
      if (!batch) throw std::runtime_error("cannot read the events log: " + batch.error().message);
      if (batch->empty()) break;
      for (auto& rec : *batch) {
        ++report.events;
        int64_t o = rec.offset.value();
        // Kafka's transaction markers leave gaps no reader sees; the chain still links.
        if (o != expected_offset && log.dense_offsets()) {
          ++report.broken_links;
          problem(p, o, "gap: expected offset " + std::to_string(expected_offset));
        }
        expected_offset = o + 1;
        std::string error;
        auto e = decode_event(rec.value, &error);
        if (!e) {
          ++report.broken_links;
          problem(p, o, "undecodable event: " + error);
          continue;
        }
        if (e->prev_hash != prev_hash) {
          ++report.broken_links;
          problem(p, o, "prev_hash does not match the previous event's hash");
        }
        if (compute_event_hash(*e) != e->hash) {
          ++report.broken_links;
          problem(p, o, "hash does not match the event's content");
        }
        if (e->partition != p) {
          ++report.broken_links;
          problem(p, o, "event names partition " + std::to_string(e->partition));
        }
        prev_hash = e->hash;
        auto& seq = sequences[e->stream];
        if (e->sequence != seq + 1) {
          ++report.sequence_errors;
          problem(p, o,
                  "stream " + e->stream + " sequence " + std::to_string(e->sequence) + " after " +
                      std::to_string(seq));
        }
        seq = e->sequence;
        auto* schema = schemas.get(e->type, e->version);
        if (!schema) {
          ++report.schema_failures;
          problem(p, o, "no schema for " + e->type + " v" + std::to_string(e->version));
          continue;
        }
        json::Document doc;
        doc.Parse(rec.value.c_str(), rec.value.size());
        rapidjson::SchemaValidator validator(*schema);
        if (!doc.Accept(validator)) {
          ++report.schema_failures;
          rapidjson::StringBuffer sb;
          validator.GetInvalidSchemaPointer().StringifyUriFragment(sb);
          problem(p, o,
                  e->type + " does not match its schema at " + std::string(sb.GetString()) + " (" +
                      validator.GetInvalidSchemaKeyword() + ")");
        }
      }
    }
    if (progress) *progress << "partition " << p << ": " << expected_offset << " events checked\n";
  }
  return report;
}

}  // namespace counsel::api
