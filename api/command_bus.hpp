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

 private:
  struct Waiter {
    std::optional<commands::CommandResult> result;
    std::condition_variable arrived;  // with mutex_: only this command's submitter waits
  };
  struct PendingAppend {
    log::OutRecord record;
    bool done = false;
    std::optional<log::LogError> error;
  };
  void read_results();
  // Appends `record` with whatever else is queued; the error if it was not appended.
  std::optional<log::LogError> append(log::OutRecord record);
  void append_group(const std::vector<std::shared_ptr<PendingAppend>>& group);

  log::Log& log_;
  std::mutex mutex_;
  std::mutex append_mutex_;
  std::condition_variable append_done_;
  std::vector<std::shared_ptr<PendingAppend>> append_queue_;
  bool appending_ = false;
  std::unordered_map<CommandId, std::shared_ptr<Waiter>> waiters_;
  std::atomic<bool> running_{false};
  std::thread reader_thread_;
  std::unique_ptr<log::LogReader> reader_;
};

}  // namespace counsel::api
