#include "commands/partition_state.hpp"

#include <algorithm>

#include "domain/json.hpp"

namespace counsel::commands {

namespace {
size_t result_size(const CommandResult& r) {
  return sizeof(CommandResult) + r.body_json.capacity() +
         r.event_positions.capacity() * sizeof(r.event_positions[0]) +
         (r.rejection ? r.rejection->code.capacity() + r.rejection->message.capacity() : 0);
}
}  // namespace

PartitionState::PartitionState(log::PartitionId partition, DedupeLimits limits)
    : partition_(partition), limits_(limits) {}

size_t PartitionState::dedupe_bytes() const {
  // flat set slots (key + 1 metadata byte, at their capacity), then the kept results.
  return (seen_.bucket_count() + seen_before_.bucket_count()) * (sizeof(CommandId) + 1) +
         results_.size() * (sizeof(CommandId) * 2 + 2 * sizeof(void*)) + result_bytes_;
}

StreamState& PartitionState::stream(const std::string& key, const AggregateKind* kind) {
  auto it = streams_.find(key);
  if (it != streams_.end()) return it->second;
  StreamState s;
  s.kind = kind;
  s.state = kind->initial(key);
  return streams_.emplace(key, std::move(s)).first->second;
}

void PartitionState::remember(const CommandId& id) {
  if (seen_before_.contains(id)) return;
  const size_t generation = std::max<size_t>(limits_.ids / 2, 1);
  if (seen_.size() >= generation && !seen_.contains(id)) {
    seen_before_ = std::move(seen_);
    seen_ = IdSet{};
    seen_.reserve(generation);
  }
  seen_.insert(id);
}

void PartitionState::remember_result(const CommandResult& result) {
  auto [it, inserted] = results_.try_emplace(result.command_id, result);
  if (!inserted) return;
  results_order_.push_back(result.command_id);
  result_bytes_ += result_size(it->second);
  while (!results_order_.empty() &&
         (results_order_.size() > limits_.results || result_bytes_ > limits_.result_bytes)) {
    auto old = results_.find(results_order_.front());
    result_bytes_ -= result_size(old->second);
    results_.erase(old);
    results_order_.pop_front();
  }
}

void PartitionState::replay(const EventEnvelope& e) {
  ++event_count_;
  last_hash_ = e.hash;
  const AggregateKind* kind = aggregate_kind_for_stream(e.stream);
  if (!kind) return;  // a stream type this build does not know: keep the chain, skip state
  auto& s = stream(e.stream, kind);
  s.kind->evolve(*s.state, e);
  s.sequence = e.sequence;
  remember(e.command_id);
}

Outcome PartitionState::handle(const Command& cmd, Timestamp now,
                               const std::function<Uuid()>& new_id) {
  Outcome out;
  out.result.command_id = cmd.id;
  auto reject = [&](RejectionKind kind, std::string code, std::string message) {
    out.result.accepted = false;
    out.result.rejection = Rejection{kind, std::move(code), std::move(message)};
    return std::move(out);
  };

  // A redelivered command: answer as the first time, append no events.
  if (auto it = results_.find(cmd.id); it != results_.end()) {
    out.result = it->second;
    out.result.duplicate = true;
    return out;
  }
  if (seen_.contains(cmd.id) || seen_before_.contains(cmd.id)) {
    out.result.accepted = true;
    // A command id names one stream (api ids derive from it), so the command's own stream is
    // the one its first try changed.
    if (auto s = streams_.find(cmd.stream); s != streams_.end()) {
      auto data = json::parse(cmd.data_json);
      json::Document empty;
      empty.SetObject();
      CommandInput input{cmd.type, data ? *data : empty, cmd.actor, now};
      out.result.body_json = s->second.kind->result_body(*s->second.state, input);
    }
    out.result.duplicate = true;
    return out;
  }

  const AggregateKind* kind = aggregate_kind_for_stream(cmd.stream);
  if (!kind || !kind->handles(cmd.type))
    return reject(RejectionKind::invalid, "unknown_command",
                  "no aggregate handles command " + cmd.type + " on this stream");
  auto data = json::parse(cmd.data_json);
  if (!data || !data->IsObject())
    return reject(RejectionKind::invalid, "invalid_command", "command data is not an object");

  auto& s = stream(cmd.stream, kind);
  CommandInput input{cmd.type, *data, cmd.actor, now};
  auto decision = kind->decide(*s.state, input);
  if (!decision) {
    out.result.accepted = false;
    out.result.rejection = decision.error();
    return out;  // rejections are not remembered: a retry is decided afresh
  }

  for (auto& ne : *decision) {
    EventEnvelope e;
    e.id = EventId{new_id()};
    e.type = ne.type;
    e.version = ne.version;
    e.stream = cmd.stream;
    e.sequence = ++s.sequence;
    e.partition = partition_.value();
    e.occurred_at = now;
    e.actor = cmd.actor;
    e.command_id = cmd.id;
    e.correlation_id = cmd.correlation_id;
    e.data_json = ne.data_json;
    seal_event(e, last_hash_);
    last_hash_ = e.hash;
    kind->evolve(*s.state, e);
    out.result.event_positions.push_back({partition_, log::Offset{event_count_}});
    ++event_count_;
    out.events.push_back(std::move(e));
  }
  out.result.accepted = true;
  out.result.body_json = kind->result_body(*s.state, input);
  remember(cmd.id);
  remember_result(out.result);
  return out;
}

}  // namespace counsel::commands
