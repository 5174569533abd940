#pragma once
// Command and result records: what the api appends to the commands topic and what the
// processor answers on the results topic.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ids.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"
#include "infra/log/log.hpp"

namespace counsel::commands {

struct Command {
  CommandId id;
  std::string type;    // e.g. "session.request"
  std::string stream;  // aggregate stream key, also the log key
  Actor actor;
  CorrelationId correlation_id;
  Timestamp issued_at{};
  std::string data_json = "{}";
};

std::string encode_command(const Command& c);
std::optional<Command> decode_command(std::string_view json, std::string* error = nullptr);

struct CommandResult {
  CommandId command_id;
  bool accepted = false;
  bool duplicate = false;  // a redelivered command: same outcome, no new events
  std::optional<Rejection> rejection;
  std::string body_json = "{}";  // the resource after the command, for the response
  std::vector<log::Position> event_positions;
};

std::string encode_result(const CommandResult& r);
std::optional<CommandResult> decode_result(std::string_view json, std::string* error = nullptr);

// A result its processor has just committed, handed to a listener in the same process
// (CommandProcessor::on_results_committed): its place on the results topic and the result
// itself, which its record decodes to (the processor keeps bodies to objects). Valid during the
// call.
struct CommittedResult {
  log::Position position;
  const CommandResult* result = nullptr;
};

}  // namespace counsel::commands
