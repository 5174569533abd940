#pragma once
// The api's side of the command flow: append a command to the commands topic and wait for
// its outcome on the results topic (read by one background thread per api process).
// Concurrent submissions are appended together (group append): while one append is under way
// the next commands queue, and the first of them appends them all in one go.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "commands/command.hpp"
#include "infra/log/log.hpp"

namespace counsel::api {

enum class SubmitFailure { log_unavailable, timed_out };

struct SubmitError {
  SubmitFailure failure;
  std::string message;
  bool is_retryable = true;
};

class CommandBus {
 public:
  explicit CommandBus(log::Log& log);
  ~CommandBus();
  // Starts reading results from the current end of every partition.
  void start();
  void stop();
  Expected<commands::CommandResult, SubmitError> submit(const commands::Command& cmd,
                                                        std::chrono::milliseconds timeout);
  // Results the processor of this same process has just committed (its on_results_committed):
  // the results reader is told to skip them and answers their submitters from them (or this
  // call does, while the reader is not started or when the engine reads them anyway), so a
  // process that both submits and decides does not read its own results back from the log.
  // Safe from any thread.
  void deliver_committed(const std::vector<commands::CommittedResult>& results);
  // Submitters answered by deliver_committed and by the results reader, since construction.
  uint64_t answered_in_process() const { return answered_in_process_.load(); }
  uint64_t answered_from_log() const { return answered_from_log_.load(); }

 private:
  struct Waiter {
    std::optional<commands::CommandResult> result;
    std::condition_variable arrived;  // with mutex_: only this command's submitter waits
  };
  struct PendingAppend {
    log::OutRecord record;
    bool done = false;
    std::optional<log::LogError> error;
    // With append_mutex_: its submitter is woken alone, when its group is appended or when it
    // is first in the queue and may append (one condition variable for all woke every queued
    // submitter after each append, most of them to wait again).
    std::condition_variable turn;
  };
  void read_results();
  // With mutex_ held: the waiter for `id` if one waits without an answer yet.
  std::shared_ptr<Waiter> unanswered_locked(const CommandId& id);
  // With mutex_ held: gives `waiter` its answer and counts it in `answered` (the three ways a
  // submitter is answered share it). wake() then wakes the submitters, without the lock.
  void answer_locked(Waiter& waiter, commands::CommandResult result,
                     std::atomic<uint64_t>& answered);
  void wake(const std::vector<std::shared_ptr<Waiter>>& answered);
  // On the reader's thread: answers what deliver_committed queued.
  void answer_handed_over();
  // Appends `record` with whatever else is queued; the error if it was not appended.
  std::optional<log::LogError> append(log::OutRecord record);
  void append_group(const std::vector<std::shared_ptr<PendingAppend>>& group);

  log::Log& log_;
  std::mutex mutex_;
  std::mutex append_mutex_;
  std::vector<std::shared_ptr<PendingAppend>> append_queue_;
  bool appending_ = false;
  std::unordered_map<CommandId, std::shared_ptr<Waiter>> waiters_;
  std::atomic<bool> running_{false};
  std::mutex handed_mutex_;
  std::vector<commands::CommandResult> handed_over_;  // by deliver_committed, for the reader
  std::atomic<uint64_t> answered_in_process_{0};
  std::atomic<uint64_t> answered_from_log_{0};
  std::thread reader_thread_;
  std::unique_ptr<log::LogReader> reader_;
  // reader_ once start() has assigned it: deliver_committed runs on the processor's thread,
  // which may start before this bus does.
  std::atomic<log::LogReader*> skipping_reader_{nullptr};
};

}  // namespace counsel::api
