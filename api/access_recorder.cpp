#include "api/access_recorder.hpp"

#include <algorithm>

#include "domain/json.hpp"
#include "infra/logging.hpp"
#include "infra/random_ids.hpp"
#include "infra/thread_name.hpp"

namespace counsel::api {

commands::Command access_command(const AccessRecord& record) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "resource_id");
  json::write_string(w, record.resource_id);
  json::key(w, "subject_id");
  json::write_string(w, record.subject.value().str());
  json::key(w, "what");
  json::write_string(w, access::to_string(record.what));
  json::key(w, "why");
  json::write_string(w, access::to_string(record.why));
  w.EndObject();

  commands::Command c;
  // Fixed when queued: a batch retried after an unclear failure is deduplicated by the processor.
  c.id = CommandId{new_uuid_v7()};
  c.type = "access.record";
  c.stream = access::access_stream(record.subject);
  c.actor = record.reader;
  c.correlation_id = CorrelationId{new_uuid_v7()};
  c.issued_at = now_utc();
  c.data_json.assign(sb.GetString(), sb.GetSize());
  return c;
}

AccessRecorder::AccessRecorder(log::Log& log, AccessProbe& probe, AccessRecorderOptions options)
    : log_(log), probe_(probe), options_(options) {}

AccessRecorder::~AccessRecorder() {
  stop(std::chrono::milliseconds(0));
}

void AccessRecorder::start() {
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    name_this_thread("access-log");
    run();
  });
}

void AccessRecorder::stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
  }
  flush(drain);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  running_ = false;
  if (!queue_.empty())
    logging::error("access-log", std::to_string(queue_.size()) +
                                     " access records could not be appended before shutdown");
}

bool AccessRecorder::record_one(const AccessRecord& record) {
  return this->record(std::vector<AccessRecord>{record});
}

bool AccessRecorder::record(const std::vector<AccessRecord>& records) {
  std::vector<Entry> entries;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& r : records) {
    if (r.reader.id == r.subject) continue;  // one's own data: not an access to record
    entries.push_back(Entry{access_command(r), now});
  }
  if (entries.empty()) return true;
  size_t pending_now = 0;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() + entries.size() > options_.max_pending) {
      probe_.records("refused", entries.size());
      return false;
    }
    for (auto& e : entries) queue_.push_back(std::move(e));
    queued_total_ += entries.size();
    pending_now = queue_.size();
  }
  probe_.records("queued", entries.size());
  probe_.pending(pending_now);
  wake_.notify_one();
  return true;
}

size_t AccessRecorder::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool AccessRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const uint64_t target = queued_total_;
  wake_.notify_one();
  return appended_.wait_for(lock, timeout, [&] { return appended_total_ >= target; });
}

bool AccessRecorder::append_batch() {
  std::vector<log::OutRecord> out;
  {
    std::lock_guard lock(mutex_);
    const size_t n = std::min(queue_.size(), options_.batch_size);
    if (n == 0) return true;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const auto& c = queue_[i].command;
      out.push_back({log::Topic::commands, c.stream, commands::encode_command(c), std::nullopt});
    }
  }
  auto appended = log_.append(out);
  if (!appended) {
    logging::warn("access-log",
                  "appending " + std::to_string(out.size()) +
                      " access records failed, retrying: " + appended.error().message);
    return false;
  }
  size_t late = 0;
  size_t pending_now = 0;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < out.size(); ++i) {
      if (now - queue_.front().queued_at > options_.late_after) ++late;
      queue_.pop_front();
    }
    appended_total_ += out.size();
    pending_now = queue_.size();
  }
  probe_.records("appended", out.size());
  if (late) probe_.delayed(late);
  probe_.pending(pending_now);
  appended_.notify_all();
  return true;
}

void AccessRecorder::run() {
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      // Let a lone record wait briefly for company: one append for many reads.
      if (!stopping_ && queue_.size() < options_.batch_size)
        wake_.wait_for(lock, options_.flush_interval,
                       [&] { return stopping_ || queue_.size() >= options_.batch_size; });
      if (stopping_) return;
    }
    if (append_batch()) {
      backoff = std::chrono::milliseconds(100);
      continue;
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, backoff, [&] { return stopping_; });
    if (stopping_) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace counsel::api
