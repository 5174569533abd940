#pragma once
// Access logging off the read path: a handler that shows someone else's sensitive data
// (profile, patient record, session, chat history) queues an access record here and answers at
// once; one background thread appends the queued records in batches as access.record commands,
// which the processor turns into access.recorded events on the subject's access stream.
//
// Nothing is dropped: a failed append is retried (with backoff) until it succeeds, and records
// that were late are counted (AccessProbe). The queue is bounded; when it is full the read is
// refused instead (503), so no sensitive read ever goes unrecorded.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/access_probe.hpp"
#include "commands/command.hpp"
#include "domain/aggregates/access.hpp"
#include "domain/ids.hpp"
#include "infra/log/log.hpp"

namespace counsel::api {

struct AccessRecord {
  Actor reader;
  UserId subject;
  access::Resource what = access::Resource::user_profile;
  std::string resource_id;
  access::Basis why = access::Basis::directory;
};

// The command that records one read (the unit the recorder appends).
commands::Command access_command(const AccessRecord& record);

struct AccessRecorderOptions {
  size_t batch_size = 500;                       // records per append
  std::chrono::milliseconds flush_interval{50};  // how long a record may wait for company
  size_t max_pending = 100'000;                  // beyond this, reads are refused
  std::chrono::milliseconds late_after{1000};    // appended later than this counts as delayed
};

class AccessRecorder {
 public:
  AccessRecorder(log::Log& log, AccessProbe& probe, AccessRecorderOptions options = {});
  ~AccessRecorder();
  AccessRecorder(const AccessRecorder&) = delete;
  AccessRecorder& operator=(const AccessRecorder&) = delete;

  void start();
  // Appends what is still queued (trying for up to `drain` while the log is down), then stops.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(5));

  // Queues the records of one read, all or none; reads of one's own data are skipped. False
  // when the queue is full: the caller refuses the read.
  bool record(const std::vector<AccessRecord>& records);
  bool record(const AccessRecord& record) { return record_one(record); }

  size_t pending() const;
  // Waits until everything queued before the call has been appended; false on timeout.
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Entry {
    commands::Command command;
    std::chrono::steady_clock::time_point queued_at;
  };
  bool record_one(const AccessRecord& record);
  void run();
  // Appends the oldest entries (one batch); false when the log refused it.
  bool append_batch();

  log::Log& log_;
  AccessProbe& probe_;
  const AccessRecorderOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;      // records queued, or stopping
  std::condition_variable appended_;  // a batch went out (flush waits on it)
  std::deque<Entry> queue_;
  uint64_t queued_total_ = 0;    // records ever queued
  uint64_t appended_total_ = 0;  // records ever appended (a prefix of the queued ones)
  bool stopping_ = false;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace counsel::api
