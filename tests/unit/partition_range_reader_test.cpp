// read_partition_range against a scripted reader: the ways a real log answers (a slow first
// fetch, transaction markers before the end, records past the end, a log that stops answering)
// in an order no real engine produces on demand.
#include <boost/test/unit_test.hpp>

#include <deque>
#include <string>
#include <vector>

#include "infra/log/log.hpp"

using namespace counsel;
using namespace counsel::log;
using namespace std::chrono_literals;

namespace {

// One scripted answer: the records a poll returns and whether the reader then knows its end.
struct Answer {
  std::vector<int64_t> offsets;
  bool at_end = false;
};

class ScriptedReader : public LogReader {
 public:
  explicit ScriptedReader(std::deque<Answer>& script) : script_(script) {}
  void assign(Topic, const std::vector<Position>& from) override { assigned_ = from; }
  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds) override {
    std::vector<Record> out;
    if (script_.empty()) return out;  // a log that has stopped answering
    Answer answer = std::move(script_.front());
    script_.pop_front();
    BOOST_REQUIRE(answer.offsets.size() <= max_records);
    for (int64_t offset : answer.offsets) {
      Record r;
      r.partition = PartitionId{2};
      r.offset = Offset{offset};
      r.value = "v" + std::to_string(offset);
      out.push_back(std::move(r));
    }
    at_end_ = answer.at_end;
    return out;
  }
  bool at_end(PartitionId partition) const override { return partition.value() == 2 && at_end_; }
  std::vector<Position> assigned_;

 private:
  std::deque<Answer>& script_;
  bool at_end_ = false;
};

class ScriptedLog : public Log {
 public:
  int partition_count() const override { return 4; }
  Result<std::vector<Position>> append(const std::vector<OutRecord>&) override {
    return unexpected(LogError{"not scripted", false, false});
  }
  Result<Offset> end_offset(Topic, PartitionId) override { return Offset{0}; }
  std::unique_ptr<LogReader> reader() override { return std::make_unique<ScriptedReader>(script); }
  std::unique_ptr<GroupConsumer> join_group(Topic, const std::string&,
                                            RebalanceListener&) override {
    return nullptr;
  }
  Result<bool> ping() override { return true; }
  std::string engine_name() const override { return "scripted"; }
  std::deque<Answer> script;
};

std::vector<int64_t> read(ScriptedLog& log, int64_t from, int64_t end,
                          Result<int64_t>* result = nullptr,
                          std::chrono::milliseconds stall = 60s) {
  std::vector<int64_t> seen;
  auto r = read_partition_range(
      log, Topic::events, PartitionId{2}, Offset{from}, Offset{end}, 4,
      [&](std::vector<Record>& records) {
        for (const auto& rec : records) seen.push_back(rec.offset.value());
        return true;
      },
      stall);
  if (result) *result = r;
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(partition_range_reader_test)

BOOST_AUTO_TEST_CASE(empty_polls_before_the_first_fetch_do_not_end_the_range) {
  ScriptedLog log;
  log.script = {{}, {}, {}, {{0, 1, 2, 3}}, {}, {{4, 5}}};
  Result<int64_t> result = int64_t{0};
  BOOST_TEST(read(log, 0, 6, &result) == (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  BOOST_REQUIRE(result.has_value());
  BOOST_TEST(*result == 6);
  BOOST_TEST(log.script.empty());
}

BOOST_AUTO_TEST_CASE(records_past_the_end_are_left_out) {
  ScriptedLog log;
  log.script = {{{3, 4, 5, 6}}, {{7, 8}}};
  BOOST_TEST(read(log, 3, 6) == (std::vector<int64_t>{3, 4, 5}));
  BOOST_TEST(log.script.size() == 1u);  // nothing polled after the end was passed
}

BOOST_AUTO_TEST_CASE(a_reported_end_before_the_end_offset_ends_the_range) {
  // Offsets 4 and 5 are transaction markers: the reader passes them and reports its end.
  ScriptedLog log;
  log.script = {{{0, 1, 2, 3}}, {{}, true}, {{9}}};
  BOOST_TEST(read(log, 0, 6) == (std::vector<int64_t>{0, 1, 2, 3}));
  BOOST_TEST(log.script.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_log_that_stops_answering_is_an_error_not_a_short_read) {
  ScriptedLog log;
  log.script = {{{0, 1}}};
  Result<int64_t> result = int64_t{0};
  read(log, 0, 6, &result, 30ms);
  BOOST_REQUIRE(!result.has_value());
  BOOST_TEST(result.error().message.find("stalled at offset 2 of 6") != std::string::npos);
  BOOST_TEST(result.error().is_retryable);
}

BOOST_AUTO_TEST_CASE(an_empty_range_reads_nothing) {
  ScriptedLog log;
  log.script = {{{0}}};
  BOOST_TEST(read(log, 5, 5).empty());
  BOOST_TEST(log.script.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
