#include "commands/partition_state.hpp"

#include "domain/json.hpp"

namespace counsel::commands {

PartitionState::PartitionState(log::PartitionId partition, size_t dedupe_capacity)
    : partition_(partition), dedupe_capacity_(dedupe_capacity) {}

StreamState& PartitionState::stream(const std::string& key, const AggregateKind* kind) {
  auto it = streams_.find(key);
  if (it != streams_.end()) return it->second;
  StreamState s;
  s.kind = kind;
  s.state = kind->initial(key);
  return streams_.emplace(key, std::move(s)).first->second;
}

void PartitionState::remember(const CommandId& id, std::string stream_key,
                              std::optional<CommandResult> result) {
  auto [it, inserted] = seen_.try_emplace(id, Remembered{std::move(stream_key), std::move(result)});
  if (!inserted) return;
  seen_order_.push_back(id);
  while (seen_order_.size() > dedupe_capacity_) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
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
  remember(e.command_id, e.stream, std::nullopt);
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
  if (auto it = seen_.find(cmd.id); it != seen_.end()) {
    if (it->second.result) {
      out.result = *it->second.result;
    } else {
      out.result.accepted = true;
      auto s = streams_.find(it->second.stream);
      if (s != streams_.end()) {
        auto data = json::parse(cmd.data_json);
        json::Document empty;
        empty.SetObject();
        CommandInput input{cmd.type, data ? *data : empty, cmd.actor, now};
        out.result.body_json = s->second.kind->result_body(*s->second.state, input);
      }
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
  remember(cmd.id, cmd.stream, out.result);
  return out;
}

}  // namespace counsel::commands
