#pragma once
// Tells the postgres engine's readers in this process which partitions have grown, so that a
// reader waits on one condition variable and reads only the partitions with news.
//
// One connection per process LISTENs on `counsel_log` (payload "<topic>:<partition>:<end>",
// AppendAnnouncer). Every reader used to LISTEN on its own connection, and PostgreSQL signals
// each listening backend of the database at every NOTIFY, whatever its channel; each reader
// then re-read all its partitions (a probe of 16 tables) to find the one or two that grew.
// This process's own commits are reported here directly (appended()), without waiting for
// their NOTIFY to come back.
//
// A reader keeps, per partition, whether its last read reached the end (ReadSchedule). It
// reads a partition again when an announced end lies past its position, and reads every
// partition when announcements may have been missed: when the listening connection was
// (re)opened (the generation changes), after a wait that timed out (every poll of ours waits
// at most a quarter of a second), and at a read a second or more after the last full one,
// since announcements are best effort (a lost NOTIFY from another process).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/pg/listen_hub.hpp"

namespace counsel::log {

// The end (next offset) a commit gave one partition of a topic.
struct AppendedEnd {
  Topic topic;
  PartitionId partition;
  Offset end;
};

// "<topic>:<partition>": what an announcement names, before its end.
std::string announcement_key(Topic topic, PartitionId partition);
// "<topic>:<partition>:<end>". Parses the older "<topic>:<partition>" too (end left 0: the
// partition may have grown to anything).
std::string announcement_payload(const AppendedEnd& e);
std::optional<AppendedEnd> parse_announcement(const std::string& payload, bool* has_end);

class AppendWatch {
  struct Shared;
  struct Waiter;

 public:
  using Clock = std::chrono::steady_clock;

  AppendWatch(std::string conninfo, int partition_count);
  // Stops listening. Subscriptions may outlive the watch: their waits then time out.
  ~AppendWatch();
  AppendWatch(const AppendWatch&) = delete;
  AppendWatch& operator=(const AppendWatch&) = delete;

  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Copies the topic's announced ends (indexed by partition; 0 when nothing was announced)
    // and returns the generation. A generation other than the last one seen means that
    // announcements may have been missed: every partition must be read.
    uint64_t snapshot(std::vector<int64_t>& ends) const;

    enum class Waited { woken, timed_out, interrupted };
    // Until an announcement moved an end of the topic (or the generation) since the last
    // wait, `until` passes or interrupt() is called. A wake may find nothing new to read.
    Waited wait(Clock::time_point until);
    // From any thread: the current or next wait returns Waited::interrupted.
    void interrupt() noexcept;
    // Watches another topic from now on (a reader assigned again).
    void follow(Topic topic);

   private:
    friend class AppendWatch;
    Subscription(std::shared_ptr<Shared> shared, Topic topic);
    std::shared_ptr<Shared> shared_;
    // Shared with the list, so a waiter can be woken after the lock is released.
    std::shared_ptr<Waiter> waiter_;
    std::list<std::shared_ptr<Waiter>>::iterator entry_;
  };

  // Starts listening (on the process's pg::ListenHub) on first use.
  std::unique_ptr<Subscription> subscribe(Topic topic);
  // After a commit of this process: wakes its readers at once.
  void appended(const std::vector<AppendedEnd>& ends);

 private:
  const std::string conninfo_;
  std::shared_ptr<Shared> shared_;
  std::once_flag started_;
  std::unique_ptr<pg::ListenHub::Subscription> listening_;
};

// Which of a reader's partitions to read now (see AppendWatch). Partitions are numbers below
// the log's partition count.
class ReadSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kFullReadEvery = std::chrono::seconds(1);

  explicit ReadSchedule(int partition_count) : caught_up_(partition_count, 0) {}

  // The next read covers every partition.
  void read_everything() { full_due_ = true; }
  // The next read covers this one (after a seek, or when it was assigned).
  void read_again(PartitionId p);

  // The positions of `all` to read now: every one when a full read is due, the watch's
  // generation changed or a second has passed since the last full read; otherwise those whose
  // last read stopped short of the end and those with an announced end past their position.
  std::vector<Position> due(const std::vector<Position>& all,
                            const AppendWatch::Subscription& watch, Clock::time_point now);
  // After reading `read`: with fewer records than the limit, each of them reached its end.
  void after_read(const std::vector<Position>& read, size_t returned, size_t limit);

 private:
  std::vector<uint8_t> caught_up_;
  std::vector<int64_t> ends_;
  uint64_t generation_ = 0;
  bool full_due_ = true;
  Clock::time_point last_full_read_{};
};

}  // namespace counsel::log
