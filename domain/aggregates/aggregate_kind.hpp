#pragma once
// The type-erased face of an aggregate that the command processor drives: one instance per
// stream prefix. Implementations decode commands and events with the aggregate's own codecs
// and run its pure decide/evolve.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events/envelope.hpp"
#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/rejection.hpp"
#include "domain/time.hpp"

namespace counsel {

struct AggregateState {
  virtual ~AggregateState() = default;
};

struct CommandInput {
  std::string_view type;
  const json::Value& data;
  const Actor& actor;
  Timestamp now;
};

class AggregateKind {
 public:
  virtual ~AggregateKind() = default;
  // "counselor-" / "account-" / "patient-" / "room-" / "access-"
  virtual std::string_view stream_prefix() const = 0;
  virtual bool handles(std::string_view command_type) const = 0;
  virtual std::unique_ptr<AggregateState> initial(std::string_view stream) const = 0;
  // Unknown event types (and data this build cannot decode) are ignored.
  virtual void evolve(AggregateState& s, const EventEnvelope& e) const = 0;
  virtual Expected<std::vector<NewEvent>, Rejection> decide(const AggregateState& s,
                                                            const CommandInput& c) const = 0;
  // The resource the response shows after the command's events were evolved (e.g. the session).
  virtual std::string result_body(const AggregateState& after, const CommandInput& c) const = 0;
};

// account, counselor, patient, room, access
const std::vector<const AggregateKind*>& all_aggregate_kinds();
const AggregateKind* aggregate_kind_for_stream(std::string_view stream);

}  // namespace counsel
