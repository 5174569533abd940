#include "api/command_bus.hpp"

#include "infra/logging.hpp"

namespace counsel::api {

CommandBus::CommandBus(log::Log& log) : log_(log) {}
CommandBus::~CommandBus() {
  stop();
}

void CommandBus::start() {
  std::vector<log::Position> from;
  for (int p = 0; p < log_.partition_count(); ++p) {
    auto end = log_.end_offset(log::Topic::results, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read results end offset: " + end.error().message);
    from.push_back({log::PartitionId{p}, *end});
  }
  reader_ = log_.reader();
  reader_->assign(log::Topic::results, from);
  running_ = true;
  reader_thread_ = std::thread([this] { read_results(); });
}

void CommandBus::stop() {
  running_ = false;
  if (reader_thread_.joinable()) reader_thread_.join();
}

void CommandBus::read_results() {
  while (running_) {
    auto batch = reader_->poll(1024, std::chrono::milliseconds(200));
    if (!batch) {
      logging::warn("command-bus", "reading results failed: " + batch.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (batch->empty()) continue;
    std::lock_guard lock(mutex_);
    bool any = false;
    for (auto& rec : *batch) {
      auto id = Uuid::parse(rec.key);
      if (!id) continue;
      auto it = waiters_.find(CommandId{*id});
      if (it == waiters_.end()) continue;  // another api process's command
      auto result = commands::decode_result(rec.value);
      if (!result) continue;
      it->second->result = std::move(*result);
      any = true;
    }
    if (any) arrived_.notify_all();
  }
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
  auto appended = log_.append(
      {{log::Topic::commands, cmd.stream, commands::encode_command(cmd), std::nullopt}});
  if (!appended) {
    forget();
    return unexpected(SubmitError{SubmitFailure::log_unavailable,
                                  "the events log is unreachable: " + appended.error().message,
                                  appended.error().is_retryable});
  }
  std::unique_lock lock(mutex_);
  bool done = arrived_.wait_for(lock, timeout, [&] { return waiter->result.has_value(); });
  waiters_.erase(cmd.id);
  if (!done)
    return unexpected(SubmitError{SubmitFailure::timed_out,
                                  "the command was accepted but its outcome is not known yet",
                                  true});
  return std::move(*waiter->result);
}

}  // namespace counsel::api
