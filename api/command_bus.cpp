#include "api/command_bus.hpp"

#include <algorithm>
#include <stdexcept>

#include "infra/logging.hpp"
#include "infra/thread_name.hpp"

namespace counsel::api {

CommandBus::CommandBus(log::Log& log) : log_(log) {}
CommandBus::~CommandBus() {
  stop();
}

void CommandBus::start() {
  // deliver_committed may be using the reader from the processor's thread: it is never replaced.
  if (reader_) throw std::logic_error("the command bus is started once");
  auto from = log::end_positions(log_, log::Topic::results);
  if (!from) throw std::runtime_error("cannot read results end offset: " + from.error().message);
  reader_ = log_.reader();
  reader_->assign(log::Topic::results, *from);
  skipping_reader_.store(reader_.get(), std::memory_order_release);
  running_ = true;
  reader_thread_ = std::thread([this] {
    name_this_thread("bus-results");
    read_results();
  });
}

void CommandBus::stop() {
  running_ = false;
  if (reader_) reader_->interrupt();  // created by start() before the thread
  if (reader_thread_.joinable()) reader_thread_.join();
}

void CommandBus::read_results() {
  while (running_) {
    answer_handed_over();
    auto batch = reader_->poll(1024, std::chrono::milliseconds(200));
    if (!batch) {
      logging::warn("command-bus", "reading results failed: " + batch.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (batch->empty()) continue;
    // Decoded outside the lock, which submitters and the processor's hand-over also take.
    std::vector<std::pair<std::shared_ptr<Waiter>, const log::Record*>> ours;
    {
      std::lock_guard lock(mutex_);
      for (auto& rec : *batch) {
        auto id = Uuid::parse(rec.key);
        if (!id) continue;
        auto it = waiters_.find(CommandId{*id});
        if (it != waiters_.end() && !it->second->result) ours.emplace_back(it->second, &rec);
      }
    }
    std::vector<std::pair<std::shared_ptr<Waiter>, commands::CommandResult>> decoded;
    decoded.reserve(ours.size());
    for (auto& [waiter, rec] : ours) {
      auto result = commands::decode_result(rec->value);
      if (result) decoded.emplace_back(std::move(waiter), std::move(*result));
    }
    std::vector<std::shared_ptr<Waiter>> answered;
    {
      std::lock_guard lock(mutex_);
      for (auto& [waiter, result] : decoded) {
        if (waiter->result) continue;  // answered in process meanwhile
        answer_locked(*waiter, std::move(result), answered_from_log_);
        answered.push_back(std::move(waiter));
      }
    }
    wake(answered);
  }
}

void CommandBus::wake(const std::vector<std::shared_ptr<Waiter>>& answered) {
  // After the lock is released: a submitter woken while it is held would only block on it
  // again (two context switches instead of one, on every answer). The shared pointers keep
  // each waiter alive though its submitter may return as soon as the lock is free.
  for (const auto& waiter : answered) waiter->arrived.notify_one();
}

void CommandBus::answer_handed_over() {
  std::vector<commands::CommandResult> handed;
  {
    std::lock_guard lock(handed_mutex_);
    handed.swap(handed_over_);
  }
  if (handed.empty()) return;
  std::vector<std::shared_ptr<Waiter>> answered;
  {
    std::lock_guard lock(mutex_);
    for (auto& result : handed)
      if (auto waiter = unanswered_locked(result.command_id)) {
        answer_locked(*waiter, std::move(result), answered_in_process_);
        answered.push_back(std::move(waiter));
      }
  }
  wake(answered);
}

void CommandBus::answer_locked(Waiter& waiter, commands::CommandResult result,
                               std::atomic<uint64_t>& answered) {
  waiter.result = std::move(result);
  answered.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<CommandBus::Waiter> CommandBus::unanswered_locked(const CommandId& id) {
  auto it = waiters_.find(id);
  // Another api process's command, or its submitter gave up; or answered already (in process,
  // or read back before the processor handed it over).
  if (it == waiters_.end() || it->second->result) return nullptr;
  return it->second;
}

void CommandBus::deliver_committed(const std::vector<commands::CommittedResult>& results) {
  // Contiguous runs per partition, for the reader to skip (one commit's results of a partition
  // are consecutive there).
  struct Run {
    int32_t partition;
    int64_t first;
    int64_t end;
  };
  std::vector<Run> runs;
  for (const auto& r : results) {
    const int32_t p = r.position.partition.value();
    const int64_t o = r.position.offset.value();
    auto run = std::find_if(runs.begin(), runs.end(),
                            [&](const Run& x) { return x.partition == p && x.end == o; });
    if (run != runs.end())
      run->end = o + 1;
    else
      runs.push_back({p, o, o + 1});
  }
  auto* reader = skipping_reader_.load(std::memory_order_acquire);
  bool skipped = reader != nullptr;
  for (const auto& run : runs) {
    if (!skipped) break;
    skipped = reader->skip_delivered(log::PartitionId{run.partition}, log::Offset{run.first},
                                     log::Offset{run.end});
  }
  if (skipped) {
    // The reader's thread answers them: this runs on the processor's thread, the one serial
    // stage of every command, before its commit is announced, so it only queues them (waking
    // each submitter, a system call each, would delay every later command and the projector).
    {
      std::lock_guard lock(handed_mutex_);
      for (const auto& r : results)
        if (r.result) handed_over_.push_back(*r.result);
    }
    reader->interrupt();  // a poll waiting now returns, and the loop answers them first
    return;
  }
  // Not reading yet (if its start is before these it reads them too), or reading them anyway
  // (Kafka): answered here, and each submitter takes the first answer only.
  std::vector<std::shared_ptr<Waiter>> answered;
  {
    std::lock_guard lock(mutex_);
    for (const auto& r : results)
      if (auto waiter = r.result ? unanswered_locked(r.result->command_id) : nullptr) {
        answer_locked(*waiter, *r.result, answered_in_process_);
        answered.push_back(std::move(waiter));
      }
  }
  wake(answered);
}

std::optional<log::LogError> CommandBus::append(log::OutRecord record) {
  auto mine = std::make_shared<PendingAppend>();
  mine->record = std::move(record);
  std::unique_lock lock(append_mutex_);
  append_queue_.push_back(mine);
  while (!mine->done) {
    if (appending_) {
      mine->turn.wait(lock);
      continue;
    }
    // Nobody is appending: this submitter appends everything queued, its own command included.
    appending_ = true;
    std::vector<std::shared_ptr<PendingAppend>> group;
    group.swap(append_queue_);
    lock.unlock();
    append_group(group);
    lock.lock();
    appending_ = false;
    // Whoever queued meanwhile appends next, with everyone queued behind it.
    std::shared_ptr<PendingAppend> next;
    if (!append_queue_.empty()) next = append_queue_.front();
    // Woken once the lock is released (see wake()); `group` and `next` keep them alive.
    lock.unlock();
    if (next) next->turn.notify_one();  // first: the next group's append waits on nobody else
    for (auto& pending : group)
      if (pending != mine) pending->turn.notify_one();
    return mine->error;
  }
  return mine->error;
}

void CommandBus::append_group(const std::vector<std::shared_ptr<PendingAppend>>& group) {
  try {
    std::vector<log::OutRecord> records;
    records.reserve(group.size());
    for (auto& pending : group) records.push_back(pending->record);
    auto appended = log_.append(records);
    std::optional<log::LogError> error;
    if (!appended) error = appended.error();
    if (error && !error->is_retryable && group.size() > 1) {
      // A record the log refuses must not take the others down with it: one by one, as if
      // each had been submitted alone.
      for (auto& pending : group) {
        auto alone = log_.append({pending->record});
        if (!alone) pending->error = alone.error();
      }
    } else if (error) {
      for (auto& pending : group) pending->error = error;
    }
  } catch (const std::exception& e) {
    // The engines report failures as values; this is memory running out or a bug. The group
    // must still end (done, and appending_ cleared by the leader), or every later submitter
    // would wait for it forever.
    for (auto& pending : group)
      if (!pending->error)
        pending->error = log::LogError{std::string("appending failed: ") + e.what()};
  }
  std::lock_guard lock(append_mutex_);
  for (auto& pending : group) pending->done = true;
}

Expected<commands::CommandResult, SubmitError> CommandBus::submit(
    const commands::Command& cmd, std::chrono::milliseconds timeout) {
  auto waiter = std::make_shared<Waiter>();
  {
    std::lock_guard lock(mutex_);
    waiters_[cmd.id] = waiter;
  }
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    waiters_.erase(cmd.id);
  };
  // The submitter waits for the outcome (or, answered nothing, retries under the same id).
  auto failed = append({log::Topic::commands, cmd.stream, commands::encode_command(cmd),
                        std::nullopt, /*durable_with_outcome=*/true});
  if (failed) {
    forget();
    return unexpected(SubmitError{SubmitFailure::log_unavailable,
                                  "the events log is unreachable: " + failed->message,
                                  failed->is_retryable});
  }
  std::unique_lock lock(mutex_);
  bool done = waiter->arrived.wait_for(lock, timeout, [&] { return waiter->result.has_value(); });
  waiters_.erase(cmd.id);
  if (!done)
    return unexpected(SubmitError{SubmitFailure::timed_out,
                                  "the command was accepted but its outcome is not known yet",
                                  true});
  return std::move(*waiter->result);
}

}  // namespace counsel::api
