#include "tests/bench/seed/event_sink.hpp"

#include <cstdio>
#include <stdexcept>

#include "domain/events/envelope.hpp"

namespace counsel::bench {
namespace {

// Batches waiting for the writer: enough to keep it busy, bounded so memory stays flat.
constexpr size_t kMaxQueuedBatches = 4;
// The loader never redelivers a command, so a partition needs only a token dedupe memory
// (the processor's default keeps the result body of the last 200,000 commands per partition:
// hundreds of megabytes at 1M events, for nothing).
constexpr size_t kDedupeCapacity = 1024;
constexpr auto kProgressInterval = std::chrono::seconds(2);

}  // namespace

EventSink::EventSink(const log::Log& log, BatchWriter& writer, Options options)
    : log_(log), writer_(writer), options_(options), random_(options.seed) {
  batch_.reserve(options_.batch_records);
  thread_ = std::thread([this] { write_loop(); });
}

EventSink::~EventSink() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<Rejection> EventSink::decide(const commands::Command& cmd, Timestamp now) {
  const log::PartitionId partition = log_.partition_for(cmd.stream);
  auto [it, _] = partitions_.try_emplace(
      partition.value(), partition,
      commands::DedupeLimits{.ids = kDedupeCapacity, .results = kDedupeCapacity});
  auto outcome = it->second.handle(cmd, now, [&] { return random_.uuid_v7_at(now); });
  if (!outcome.result.accepted)
    return outcome.result.rejection.value_or(Rejection{RejectionKind::invalid, "rejected", ""});
  // As CommandProcessor::process_partition appends them (without the results record: nobody
  // waits for these commands).
  for (auto& e : outcome.events) {
    batch_.push_back({log::Topic::events, e.stream, encode_event(e), partition});
    ++decided_;
  }
  if (batch_.size() >= options_.batch_records) hand_over();
  return std::nullopt;
}

void EventSink::hand_over() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < kMaxQueuedBatches || failure_; });
  if (failure_) throw std::runtime_error(*failure_);
  queue_.push_back(std::move(batch_));
  batch_ = {};
  batch_.reserve(options_.batch_records);
  changed_.notify_all();
}

void EventSink::finish() {
  if (!batch_.empty()) hand_over();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return (queue_.empty() && written_ == decided_) || failure_; });
  if (failure_) throw std::runtime_error(*failure_);
}

void EventSink::write_loop() {
  for (;;) {
    std::vector<log::OutRecord> batch;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
    }
    std::optional<std::string> failed;
    try {
      writer_.write(batch);
    } catch (const std::exception& e) {
      failed = std::string(e.what()) + " (start again on a fresh database and empty topics)";
    }
    std::lock_guard lock(mutex_);
    if (failed) {
      failure_ = failed;
      changed_.notify_all();
      return;
    }
    written_ += static_cast<int64_t>(batch.size());
    changed_.notify_all();
    print_progress();
  }
}

// Called with mutex_ held, after each batch; prints at most every kProgressInterval.
void EventSink::print_progress() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_print_ < kProgressInterval) return;
  const double total_s = std::chrono::duration<double>(now - started_).count();
  const double recent_s = std::chrono::duration<double>(now - last_print_).count();
  const double share =
      options_.expected_events > 0
          ? static_cast<double>(written_) / static_cast<double>(options_.expected_events)
          : 1.0;
  std::fprintf(stderr,
               "counsel_bench_seed: %lld/%lld events written (%.0f%%), %.0f events/s "
               "(%.0f events/s overall)\n",
               static_cast<long long>(written_), static_cast<long long>(options_.expected_events),
               100.0 * share, static_cast<double>(written_ - written_at_last_print_) / recent_s,
               static_cast<double>(written_) / total_s);
  last_print_ = now;
  written_at_last_print_ = written_;
}

}  // namespace counsel::bench
