#pragma once
// Partition ownership on Kafka: a consumer group member (eager range assignment) whose leases
// commit through the member's own transactional producer. Internal to the Kafka engine.
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "infra/log/kafka_client.hpp"
#include "infra/log/log.hpp"

namespace counsel::log::kafka {

// Hands out transactional ids: group + "-" + member, so a restarted member fences its
// predecessor. A second live consumer of the same group in this process (tests, or two
// processors side by side) gets a numbered suffix instead of fencing the first.
class TransactionalIds {
 public:
  explicit TransactionalIds(std::string member) : member_(std::move(member)) {}
  std::string acquire(const std::string& group);
  void release(const std::string& id);

 private:
  const std::string member_;
  std::mutex mutex_;
  std::set<std::string> in_use_;
};

std::unique_ptr<GroupConsumer> make_group_consumer(const EngineConfig& config,
                                                   std::shared_ptr<TransactionalIds> ids,
                                                   Topic topic, const std::string& group,
                                                   RebalanceListener& listener);

}  // namespace counsel::log::kafka
