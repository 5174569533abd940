#pragma once
// Access-log metrics, kept out of the recorder's logic: records by outcome
// (counsel_access_records_total: queued, appended, refused when the queue is full), records
// whose append had to be retried or waited longer than the flush interval
// (counsel_access_records_delayed_total: never dropped, but late) and the records waiting now
// (counsel_access_records_pending).
#include <cstdint>
#include <memory>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace counsel::api {

class AccessProbe {
 public:
  AccessProbe();
  explicit AccessProbe(prometheus::Registry& registry);
  ~AccessProbe();
  AccessProbe(const AccessProbe&) = delete;
  AccessProbe& operator=(const AccessProbe&) = delete;

  // outcome: "queued" | "appended" | "refused"
  void records(std::string_view outcome, size_t count);
  void delayed(size_t count);
  void pending(size_t count);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

}  // namespace counsel::api
