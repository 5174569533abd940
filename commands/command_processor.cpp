#include "commands/command_processor.hpp"

#include <malloc.h>
#include <algorithm>
#include <cstdlib>
#include <exception>

#include "commands/processor_probe.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "infra/thread_name.hpp"

namespace counsel::commands {

CommandProcessor::CommandProcessor(log::Log& log, ProcessorOptions options)
    : log_(log), options_(std::move(options)), probe_(std::make_unique<ProcessorProbe>()) {}

CommandProcessor::~CommandProcessor() {
  stop();
}

void CommandProcessor::start() {
  if (!consumer_) consumer_ = log_.join_group(log::Topic::commands, options_.group, *this);
  running_ = true;
  thread_ = std::thread([this] {
    name_this_thread("processor");
    while (running_) {
      try {
        run_once();
      } catch (const std::exception& e) {
        logging::error("processor", std::string("loop error: ") + e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  });
}

void CommandProcessor::stop() {
  running_ = false;
  // Created by start() before the thread, replaced only after join: no race on the pointer.
  if (consumer_) consumer_->interrupt();
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    consumer_->close();
    consumer_.reset();
  }
}

std::vector<log::PartitionId> CommandProcessor::owned_partitions() const {
  std::lock_guard lock(owned_mutex_);
  std::vector<log::PartitionId> out;
  for (auto& [p, _] : owned_) out.push_back(log::PartitionId{p});
  return out;
}

size_t CommandProcessor::total_streams() const {
  std::lock_guard lock(owned_mutex_);
  size_t n = 0;
  for (auto& [_, o] : owned_)
    if (o.state) n += o.state->stream_count();
  return n;
}

void CommandProcessor::on_assigned(std::vector<std::unique_ptr<log::PartitionLease>> leases) {
  // Rebuilding is replay-bound (decode + evolve) and partitions are independent: rebuild them
  // side by side, each with its own reader, then seek and publish them on this thread.
  std::vector<std::unique_ptr<PartitionState>> states(leases.size());
  std::vector<std::exception_ptr> errors(leases.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < leases.size(); i = next++) {
      try {
        states[i] = rebuild_state(leases[i]->partition());
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  const size_t threads = std::min(leases.size(), rebuild_threads());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  // The replay's read buffers are freed now, spread over the workers' malloc arenas: give the
  // pages back instead of carrying them as resident memory.
  malloc_trim(0);

  for (size_t i = 0; i < leases.size(); ++i) {
    Owned owned;
    owned.lease = std::move(leases[i]);
    owned.state = std::move(states[i]);
    auto p = owned.lease->partition();
    consumer_->seek(p, owned.lease->consumed());
    logging::info("processor", "took partition " + std::to_string(p.value()) + " (epoch " +
                                   std::to_string(owned.lease->epoch().value()) + ", " +
                                   std::to_string(owned.state->stream_count()) + " streams)");
    std::lock_guard lock(owned_mutex_);
    owned_[p.value()] = std::move(owned);
    report_state_locked();
  }
}

void CommandProcessor::on_revoked(const std::vector<log::PartitionId>& partitions) {
  std::lock_guard lock(owned_mutex_);
  for (auto p : partitions) {
    owned_.erase(p.value());
    logging::info("processor", "released partition " + std::to_string(p.value()));
  }
  report_state_locked();
}

size_t CommandProcessor::rebuild_threads() const {
  if (options_.rebuild_threads > 0) return options_.rebuild_threads;
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 8);
}

void CommandProcessor::report_state_locked() {
  size_t streams = 0, ids = 0, dedupe_bytes = 0;
  for (auto& [_, o] : owned_) {
    if (!o.state) continue;
    streams += o.state->stream_count();
    ids += o.state->remembered_ids();
    dedupe_bytes += o.state->dedupe_bytes();
  }
  probe_->partitions_owned(owned_.size());
  probe_->state(streams, ids, dedupe_bytes);
}

void CommandProcessor::abandon(Owned& owned) {
  owned.state.reset();
  consumer_->seek(owned.lease->partition(), owned.lease->consumed());
}

bool CommandProcessor::restore(Owned& owned) {
  const auto p = owned.lease->partition();
  try {
    owned.state = rebuild_state(p);
    return true;
  } catch (const std::exception& e) {
    logging::warn("processor",
                  "cannot rebuild partition " + std::to_string(p.value()) + " yet: " + e.what());
    // Whatever was polled for it meanwhile is read again once it can be rebuilt.
    consumer_->seek(p, owned.lease->consumed());
    return false;
  }
}

std::unique_ptr<PartitionState> CommandProcessor::rebuild_state(log::PartitionId p) {
  auto state = std::make_unique<PartitionState>(p, options_.dedupe);
  auto end = log_.end_offset(log::Topic::events, p);
  if (!end) throw std::runtime_error("cannot read events end offset: " + end.error().message);
  auto read = log::read_partition_range(
      log_, log::Topic::events, p, log::Offset{0}, *end, 5000,
      [&](std::vector<log::Record>& records) {
        for (auto& rec : records) {
          std::string error;
          auto e = decode_event(rec.value, &error);
          if (!e) {
            logging::error("processor", "undecodable event at " + std::to_string(p.value()) + ":" +
                                            std::to_string(rec.offset.value()) + ": " + error);
            state->replay_undecodable();
            continue;
          }
          state->replay(*e);
        }
        return true;
      });
  if (!read) throw std::runtime_error("cannot replay events: " + read.error().message);
  return state;
}

void CommandProcessor::run_once() {
  if (!consumer_) consumer_ = log_.join_group(log::Topic::commands, options_.group, *this);
  auto records = consumer_->poll(options_.max_batch, options_.poll_wait);
  if (!records) {
    logging::warn("processor", "poll failed: " + records.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return;
  }
  if (records->empty()) return;
  std::map<int32_t, std::vector<const log::Record*>> by_partition;
  for (auto& r : *records) by_partition[r.partition.value()].push_back(&r);
  std::vector<Decided> decided;
  std::vector<Owned*> touched;
  try {
    for (auto& [p, recs] : by_partition) {
      std::unique_lock lock(owned_mutex_);
      auto it = owned_.find(p);
      if (it == owned_.end()) continue;  // revoked while polling
      lock.unlock();
      Owned& owned = it->second;
      // A partition whose state was dropped after a failed commit is rebuilt first; while it
      // cannot be, its commands wait (re-read from the committed position).
      if (!owned.state && !restore(owned)) continue;
      touched.push_back(&owned);
      decided.push_back(decide(owned, recs));
    }
  } catch (...) {
    // Nothing of this poll is committed, yet the states it touched have moved on.
    for (Owned* owned : touched) abandon(*owned);
    throw;
  }
  commit_decided(decided);
  std::lock_guard lock(owned_mutex_);
  report_state_locked();
}

CommandProcessor::Decided CommandProcessor::decide(Owned& owned,
                                                   const std::vector<const log::Record*>& records) {
  Decided d{&owned, {}, {}, log::Offset{records.back()->offset.value() + 1}, {}};
  auto p = owned.lease->partition();
  Timestamp now = now_utc();
  for (auto* rec : records) {
    std::string error;
    auto cmd = decode_command(rec->value, &error);
    if (!cmd) {
      // Undecodable records cannot be answered (no id); skip them but keep the position.
      logging::error("processor", "skipping undecodable command at " + std::to_string(p.value()) +
                                      ":" + std::to_string(rec->offset.value()) + ": " + error);
      continue;
    }
    auto outcome = owned.state->handle(*cmd, now, [] { return new_uuid_v7(); });
    // A result's body is an object (decode_result reads anything else as {}): so it reads the
    // same whether its submitter is answered in process or from the log.
    if (outcome.result.body_json.empty() || outcome.result.body_json.front() != '{')
      outcome.result.body_json = "{}";
    probe_->command(cmd->type, outcome.result.duplicate  ? "duplicate"
                               : outcome.result.accepted ? "accepted"
                                                         : "rejected");
    for (auto& e : outcome.events) {
      d.out.push_back({log::Topic::events, e.stream, encode_event(e), p});
      d.event_types.push_back(e.type);
    }
    d.out.push_back({log::Topic::results, cmd->id.value().str(), encode_result(outcome.result), p});
    if (on_results_committed) d.results.push_back(std::move(outcome.result));
  }
  return d;
}

void CommandProcessor::hand_over_results(const std::vector<Decided>& decided,
                                         const std::vector<std::vector<log::Position>>& positions) {
  std::vector<CommittedResult> results;
  for (size_t i = 0; i < decided.size() && i < positions.size(); ++i) {
    const auto& out = decided[i].out;
    size_t next_result = 0;
    for (size_t j = 0; j < out.size() && j < positions[i].size(); ++j) {
      if (out[j].topic != log::Topic::results) continue;
      if (next_result == decided[i].results.size()) break;
      results.push_back({positions[i][j], &decided[i].results[next_result++]});
    }
  }
  // What it throws is logged by the log (call_before_announcing); the submitters then still get
  // their results from the log.
  if (!results.empty()) on_results_committed(results);
}

// Every partition of the poll in one commit: a transaction and a disk flush per poll rather than
// per partition, so a burst of commands spread over the partitions costs one round of I/O.
void CommandProcessor::commit_decided(std::vector<Decided>& decided) {
  if (decided.empty()) return;
  std::vector<log::LeaseCommit> commits;
  commits.reserve(decided.size());
  for (auto& d : decided) commits.push_back({d.owned->lease.get(), &d.out, d.consumed});
  auto started = std::chrono::steady_clock::now();
  log::Result<std::vector<std::vector<log::Position>>> committed =
      commit_fault_pending_ ? log::Result<std::vector<std::vector<log::Position>>>(unexpected(
                                  log::LogError{"fault injection: the commit failed", true, false}))
                            : consumer_->commit_together(
                                  commits, [&](const std::vector<std::vector<log::Position>>& at) {
                                    if (on_results_committed) hand_over_results(decided, at);
                                  });
  commit_fault_pending_ = false;
  probe_->commit(std::chrono::steady_clock::now() - started, committed.has_value());
  if (committed) {
    bool appended = false;
    for (auto& d : decided) {
      for (auto& type : d.event_types) probe_->event_appended(type);
      appended = appended || !d.event_types.empty();
    }
    if (appended && options_.fault == "processor_crash_after_append") {
      logging::error("processor", "fault injection: crashing after append");
      std::_Exit(87);
    }
    return;
  }
  // Nothing was committed, but the in-memory states already moved on: drop them and go back to
  // the committed positions first, so no later step can decide on (or skip past) commands that
  // were never committed. A partition that has a newer owner is then dropped (an empty commit
  // of its last position, which changes nothing, tells which ones); the rest are rebuilt from
  // the log, or at the next poll if that fails now.
  logging::warn("processor", "commit of " + std::to_string(decided.size()) +
                                 " partition(s) failed: " + committed.error().message);
  for (auto& d : decided) abandon(*d.owned);
  for (auto& d : decided) {
    const auto p = d.owned->lease->partition();
    if (committed.error().fenced) {
      auto probe = d.owned->lease->commit({}, d.owned->lease->consumed());
      if (!probe && probe.error().fenced) {
        std::lock_guard lock(owned_mutex_);
        owned_.erase(p.value());  // d.owned dangles from here on
        continue;
      }
    }
    restore(*d.owned);
  }
}

}  // namespace counsel::commands
