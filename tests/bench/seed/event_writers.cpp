#include "tests/bench/seed/event_writers.hpp"

#include <map>
#include <pqxx/pqxx>
#include <stdexcept>
#include <tuple>

#include "infra/pg/connection_pool.hpp"

namespace counsel::bench {
namespace {

class PortWriter : public BatchWriter {
 public:
  explicit PortWriter(log::Log& log) : log_(log) {}
  void write(const std::vector<log::OutRecord>& batch) override {
    // One attempt: on Kafka a failed batch may have landed in part, and a retry would break
    // the chain; the data set is unusable either way.
    auto appended = log_.append(batch);
    if (!appended)
      throw std::runtime_error("writing to the events log failed: " + appended.error().message);
  }
  std::string describe() const override { return "the log port (" + log_.engine_name() + ")"; }

 private:
  log::Log& log_;
};

class PostgresCopyWriter : public BatchWriter {
 public:
  explicit PostgresCopyWriter(const std::string& conninfo)
      : connection_(pg::open_connection(conninfo)) {
    pqxx::read_transaction tx(*connection_);
    next_ = heads(tx);
  }

  void write(const std::vector<log::OutRecord>& batch) override {
    pqxx::work tx(*connection_);
    if (heads(tx, " FOR UPDATE") != next_)
      throw std::runtime_error(
          "another process appended to the events log while the loader was writing");
    std::map<int32_t, int64_t> next = next_;
    {
      // "offset" is a reserved word; stream_to puts the names in the COPY statement as given.
      pqxx::stream_to copy(
          tx, "log.records",
          std::vector<std::string>{"topic", "partition", "\"offset\"", "key", "value"});
      for (const auto& r : batch) {
        if (!r.partition) throw std::logic_error("the loader names every record's partition");
        const int32_t p = r.partition->value();
        copy << std::make_tuple(static_cast<int>(r.topic), p, next[p]++, r.key, r.value);
      }
      copy.complete();
    }
    for (const auto& [partition, offset] : next) {
      if (next_[partition] == offset) continue;
      tx.exec_params(
          "INSERT INTO log.heads (topic, partition, next_offset) VALUES ($1, $2, $3) "
          "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
          static_cast<int>(log::Topic::events), partition, offset);
    }
    tx.commit();
    next_ = std::move(next);
  }

  std::string describe() const override { return "COPY into log.records (postgres engine)"; }

 private:
  // Next offset per partition of the events topic; partitions without a head are left out
  // (they start at 0).
  static std::map<int32_t, int64_t> heads(pqxx::transaction_base& tx, const char* lock = "") {
    std::map<int32_t, int64_t> out;
    const auto rows = tx.exec_params(
        std::string("SELECT partition, next_offset FROM log.heads WHERE topic = $1") + lock,
        static_cast<int>(log::Topic::events));
    for (const auto& row : rows)
      if (row[1].as<int64_t>() > 0) out[row[0].as<int32_t>()] = row[1].as<int64_t>();
    return out;
  }

  std::unique_ptr<pqxx::connection> connection_;
  std::map<int32_t, int64_t> next_;
};

}  // namespace

std::unique_ptr<BatchWriter> port_writer(log::Log& log) {
  return std::make_unique<PortWriter>(log);
}

std::unique_ptr<BatchWriter> postgres_copy_writer(const std::string& conninfo) {
  return std::make_unique<PostgresCopyWriter>(conninfo);
}

}  // namespace counsel::bench
