#include "api/cli/event_log_check.hpp"

#include <rapidjson/schema.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "api/cli/event_chain.hpp"
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
  std::vector<ChainProblem> chain_problems;
  auto reader = log.reader();
  for (int p = 0; p < log.partition_count(); ++p) {
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    PartitionChainWalk walk(p, log.dense_offsets());
    read_partition(*reader, p, 0, end->value(), 5000, [&](const std::vector<log::Record>& batch) {
      for (auto& rec : batch) {
        ++report.events;
        int64_t o = rec.offset.value();
        chain_problems.clear();
        auto e = walk.check(o, rec.value, chain_problems);
        for (auto& cp : chain_problems) {
          ++(cp.fault == ChainFault::sequence_gap ? report.sequence_errors : report.broken_links);
          if (report.first_problem.empty()) report.first_problem = cp.describe();
        }
        if (!e) continue;
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
      return true;
    });
    if (progress)
      *progress << "partition " << p << ": " << walk.events_checked() << " events checked\n";
  }
  return report;
}

}  // namespace counsel::api
