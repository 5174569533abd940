#pragma once
// Decides commands exactly as the command processor does (one commands::PartitionState per
// partition: aggregates, sequences, the hash chain) and hands the resulting events in large
// batches to a writer thread (a BatchWriter), printing progress to stderr.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands/partition_state.hpp"
#include "infra/log/log.hpp"
#include "tests/bench/seed/event_writers.hpp"
#include "tests/bench/seed/seed_random.hpp"

namespace counsel::bench {

class EventSink {
 public:
  struct Options {
    size_t batch_records = 5000;
    int64_t expected_events = 0;  // for the progress lines
    uint64_t seed = 0;            // event ids
  };

  // `log` maps streams to partitions; `writer` stores the batches.
  EventSink(const log::Log& log, BatchWriter& writer, Options options);
  ~EventSink();
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;

  // Decides `cmd` at `now` in its partition's state; the events are sealed and chained there
  // and queued for the log. Returns the rejection, if any (then nothing is queued). Throws if
  // an earlier write failed.
  std::optional<Rejection> decide(const commands::Command& cmd, Timestamp now);
  // Writes what is still queued and waits for it; throws if a write failed.
  void finish();

 private:
  void write_loop();
  void hand_over();
  void print_progress();

  const log::Log& log_;
  BatchWriter& writer_;
  const Options options_;
  SeedRandom random_;
  std::map<int32_t, commands::PartitionState> partitions_;
  std::vector<log::OutRecord> batch_;
  int64_t decided_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<log::OutRecord>> queue_;
  bool closing_ = false;
  std::optional<std::string> failure_;
  int64_t written_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_print_ = started_;
  int64_t written_at_last_print_ = 0;
  std::thread thread_;
};

}  // namespace counsel::bench
