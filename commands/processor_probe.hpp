#pragma once
// Command processor metrics, kept out of the processing logic: commands by type and outcome,
// events appended by type, owned partitions and their in-memory state, commit latency.
#include <chrono>
#include <memory>
#include <string_view>

namespace counsel::commands {

class ProcessorProbe {
 public:
  ProcessorProbe();
  ~ProcessorProbe();
  ProcessorProbe(const ProcessorProbe&) = delete;
  ProcessorProbe& operator=(const ProcessorProbe&) = delete;

  // outcome: "accepted" | "rejected" | "duplicate"
  void command(std::string_view type, std::string_view outcome);
  void event_appended(std::string_view type);
  void partitions_owned(size_t n);
  // Streams (aggregates) in memory, remembered command ids and their approximate bytes.
  void state(size_t streams, size_t dedupe_ids, size_t dedupe_bytes);
  void commit(std::chrono::steady_clock::duration elapsed, bool ok);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

}  // namespace counsel::commands
