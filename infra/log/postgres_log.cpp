#include "infra/log/postgres_log.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "infra/logging.hpp"
#include "infra/pg/array_literal.hpp"
#include "infra/pg/stop_signal.hpp"

namespace counsel::log {
namespace {

using Clock = std::chrono::steady_clock;

// One statement appends a whole batch: per touched partition it reserves a block of offsets in
// log.heads (the row lock serializes appenders of that partition until commit, so offsets are
// dense and become visible in order) and inserts the records. Heads are locked in (topic,
// partition) order so concurrent batches cannot deadlock. Returns each input record's
// (ord, partition, offset).
//
// The CTEs after `batch` (the records to append: topic, partition, key, value, ord), shared by
// the plain append and the fenced group commit.
constexpr const char* kAppendCtes = R"(
counts AS (
  SELECT topic, partition, count(*) AS n FROM batch GROUP BY topic, partition),
heads AS (
  INSERT INTO log.heads AS h (topic, partition, next_offset)
  SELECT topic, partition, n FROM counts ORDER BY topic, partition
  ON CONFLICT (topic, partition) DO UPDATE SET next_offset = h.next_offset + excluded.next_offset
  RETURNING h.topic, h.partition, h.next_offset),
numbered AS (
  SELECT b.ord, b.topic, b.partition, b.key, b.value,
         h.next_offset - c.n - 1
           + row_number() OVER (PARTITION BY b.topic, b.partition ORDER BY b.ord) AS "offset"
  FROM batch b JOIN heads h USING (topic, partition) JOIN counts c USING (topic, partition)),
inserted AS (
  INSERT INTO log.records (topic, partition, "offset", key, value)
  SELECT topic, partition, "offset", key, value FROM numbered ORDER BY topic, partition, "offset"))";

const std::string append_sql = std::string(R"(
WITH batch AS (
  SELECT b.topic, b.partition, b.key, b.value, b.ord
  FROM unnest($1::smallint[], $2::int[], $3::text[], $4::text[])
       WITH ORDINALITY AS b(topic, partition, key, value, ord)),)") +
                               kAppendCtes + R"(
-- $5: whether the commit may return before its WAL is flushed (deferred_flush): set for this
-- statement's own transaction, and reported back.
SELECT ord, partition, "offset",
       set_config('synchronous_commit',
                  CASE WHEN $5 THEN 'off' ELSE current_setting('synchronous_commit') END, true)
FROM numbered ORDER BY ord)";

// A processor's commit as one statement, so one round trip and its own transaction (BEGIN,
// the fence, the append, the positions and COMMIT were five): the owner rows of the leases'
// partitions ($5 the group, $6 the partitions, in order) are locked, and only when every one
// still has the lease's epoch ($7) are the records appended and the consumed positions ($8)
// stored. The fence is a data dependency of both writes (the `owned` gate), so its row locks
// are taken first, in partition order as every committer takes them, and a takeover's epoch
// bump either waits for this commit or makes it write nothing. Returns the owner rows found
// (kind 'f': partition, epoch) and each appended record's (kind 'r': partition, offset, ord).
// Commits with the server's synchronous_commit: a decision is durable when it returns.
const std::string fenced_commit_sql = std::string(R"(
WITH fence AS (
  SELECT o.partition, o.epoch FROM log.partition_owners o
  WHERE o.grp = $5 AND o.partition = ANY($6::int[])
  ORDER BY o.partition FOR UPDATE),
owned AS (
  SELECT count(*) = cardinality($6::int[]) AS ok
  FROM fence f JOIN unnest($6::int[], $7::bigint[]) AS l(partition, epoch)
    ON l.partition = f.partition AND l.epoch = f.epoch),
batch AS (
  SELECT b.topic, b.partition, b.key, b.value, b.ord
  FROM unnest($1::smallint[], $2::int[], $3::text[], $4::text[])
       WITH ORDINALITY AS b(topic, partition, key, value, ord)
  WHERE (SELECT ok FROM owned)),)") + kAppendCtes +
                                      R"(,
stored AS (
  INSERT INTO log.group_positions (grp, partition, next_offset)
  SELECT $5, c.p, c.o FROM unnest($6::int[], $8::bigint[]) AS c(p, o)
  WHERE (SELECT ok FROM owned)
  ORDER BY c.p
  ON CONFLICT (grp, partition) DO UPDATE SET next_offset = excluded.next_offset)
SELECT 'f' AS kind, f.partition, f.epoch, NULL::bigint AS ord FROM fence f
UNION ALL
SELECT 'r', n.partition, n."offset", n.ord FROM numbered n)";

// The read of one topic from positions in several partitions: one probe per position ($2
// partitions, $3 offsets, $4 the topic, $1 the limit), each the primary key's range scan of
// that partition's own table (log.records_t<topic>_p<partition>, migration 011), which
// PostgreSQL picks per probe at execution (run-time partition pruning). The partitions are
// read round-robin (ordered by the record's rank within its partition), so one busy partition
// cannot starve the others.
//
// The statement is the same whatever the partitions and offsets, so it is prepared once per
// connection and runs on its generic plan (the reading connection sets plan_cache_mode): that
// plan is the index range scans, whatever the parameters, because the partition is only known
// per probe. The UNION ALL of one branch per partition's table it replaces was planned on
// every poll (its custom plans looked cheaper) and started up 16 branches: 0.57 ms for an
// empty poll of 16 partitions against 0.1 ms (pgbench, 100k-event log).
//
// appended_at goes out as milliseconds through date_part's float8: extract() returns numeric
// since PostgreSQL 14, and its arithmetic was a third of the server's time per record on a
// long read (\copy of 60,000 events: 226 ms against 159). The float's rounding can move an
// exact half millisecond by one, which nothing reading appended_at (lag, tests) can notice.
constexpr const char* read_sql = R"(
SELECT r.partition, r."offset", r.key, r.value,
       (date_part('epoch', r.appended_at) * 1000)::bigint
FROM unnest($2::int[], $3::bigint[]) AS p(part, off)
CROSS JOIN LATERAL (
  SELECT partition, "offset", key, value, appended_at,
         row_number() OVER (ORDER BY "offset") AS rank
  FROM log.records
  WHERE topic = $4::smallint AND partition = p.part AND "offset" >= p.off
  ORDER BY "offset" LIMIT $1::bigint) r
ORDER BY r.rank, r.partition LIMIT $1::bigint)";

void prepare_statements(pqxx::connection& c) {
  c.prepare("log_append", append_sql);
  c.prepare("log_fenced_commit", fenced_commit_sql);
  c.prepare("log_read", read_sql);
  c.prepare("log_end_offset",
            "SELECT next_offset FROM log.heads WHERE topic = $1 AND partition = $2");
  c.prepare("log_heartbeat",
            "INSERT INTO log.group_members (grp, member, heartbeat_at) VALUES ($1, $2, now()) "
            "ON CONFLICT (grp, member) DO UPDATE SET heartbeat_at = now()");
  c.prepare("log_expire_members",
            "DELETE FROM log.group_members WHERE grp = $1 "
            "AND heartbeat_at < now() - make_interval(secs => $2::double precision)");
  c.prepare("log_count_members", "SELECT count(*) FROM log.group_members WHERE grp = $1");
  c.prepare("log_leave", "DELETE FROM log.group_members WHERE grp = $1 AND member = $2");
  // No ORDER BY: the Limit stops pulling rows once enough locks are taken, so no lock is taken
  // that is not returned.
  c.prepare("log_try_lock",
            "SELECT p FROM unnest($2::int[]) AS c(p) WHERE pg_try_advisory_lock($1, p) LIMIT $3");
  c.prepare("log_unlock", "SELECT pg_advisory_unlock($1, p) FROM unnest($2::int[]) AS c(p)");
  c.prepare(
      "log_bump_epochs",
      "INSERT INTO log.partition_owners AS o (grp, partition, epoch, owner) "
      "SELECT $1, p, 1, $2 FROM unnest($3::int[]) AS c(p) ORDER BY p "
      "ON CONFLICT (grp, partition) DO UPDATE SET epoch = o.epoch + 1, owner = excluded.owner "
      "RETURNING o.partition, o.epoch");
  c.prepare("log_positions",
            "SELECT partition, next_offset FROM log.group_positions "
            "WHERE grp = $1 AND partition = ANY($2::int[])");
  c.prepare("log_claim_partition_count",
            "INSERT INTO log.settings (name, value) VALUES ('partition_count', $1) "
            "ON CONFLICT (name) DO NOTHING");
  c.prepare("log_partition_count", "SELECT value FROM log.settings WHERE name = 'partition_count'");
  c.prepare("log_ensure_record_partitions",
            "SELECT log.ensure_record_partitions($1::smallint[], $2)");
}

template <class T>
std::string int_array(const std::vector<T>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

bool is_retryable_sqlstate(const std::string& state) {
  // 40: serialization failure / deadlock; 08: connection; 53: resources; 57: shutdown, cancel;
  // 55P03: lock not available.
  return state.rfind("40", 0) == 0 || state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 ||
         state.rfind("57", 0) == 0 || state == "55P03";
}

LogError to_log_error(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return {std::string("PostgreSQL connection lost: ") + e.what(), true, false};
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return {std::string("PostgreSQL commit outcome unknown: ") + e.what(), true, false};
  }
  if (dynamic_cast<const pg::PgUnavailable*>(&e) != nullptr) {
    return {e.what(), true, false};
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    return {std::string("PostgreSQL error ") + sql->sqlstate() + ": " + e.what(),
            is_retryable_sqlstate(sql->sqlstate()), false};
  }
  return {std::string("postgres log: ") + e.what(), false, false};
}

bool is_deadlock_or_serialization(const std::exception& e) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  return sql != nullptr && (sql->sqlstate() == "40P01" || sql->sqlstate() == "40001");
}

struct EncodedBatch {
  std::string topics;
  std::string partitions;
  std::string keys;
  std::string values;
  size_t count = 0;
};

Result<EncodedBatch> encode_batch(const std::vector<const OutRecord*>& records,
                                  int partition_count) {
  EncodedBatch batch;
  std::vector<int> topics;
  std::vector<int32_t> partitions;
  topics.reserve(records.size());
  partitions.reserve(records.size());
  size_t text_size = 2;
  for (const OutRecord* r : records) text_size += r->key.size() + r->value.size() + 8;
  batch.values.reserve(text_size);
  batch.keys = "{";
  batch.values = "{";
  for (const OutRecord* record : records) {
    const OutRecord& r = *record;
    const PartitionId partition =
        r.partition ? *r.partition : partition_for(r.key, partition_count);
    if (partition.value() < 0 || partition.value() >= partition_count) {
      return unexpected(LogError{"partition " + std::to_string(partition.value()) +
                                     " is outside 0.." + std::to_string(partition_count - 1),
                                 false, false});
    }
    if (r.key.find('\0') != std::string::npos || r.value.find('\0') != std::string::npos) {
      return unexpected(LogError{"log records cannot contain NUL bytes", false, false});
    }
    topics.push_back(static_cast<int>(r.topic));
    partitions.push_back(partition.value());
    pg::append_array_element(batch.keys, r.key);
    pg::append_array_element(batch.values, r.value);
    ++batch.count;
  }
  batch.keys += '}';
  batch.values += '}';
  batch.topics = int_array(topics);
  batch.partitions = int_array(partitions);
  return batch;
}

std::vector<const OutRecord*> pointers_to(const std::vector<OutRecord>& records) {
  std::vector<const OutRecord*> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(&r);
  return out;
}

Result<EncodedBatch> encode_batch(const std::vector<OutRecord>& records, int partition_count) {
  return encode_batch(pointers_to(records), partition_count);
}

// `defer_flush`: see deferred_flush(); the statement then commits asynchronously when it is
// its own transaction. `deferred` (if given) says whether PostgreSQL took it so.
std::vector<Position> run_append(pqxx::transaction_base& tx, const EncodedBatch& batch,
                                 bool defer_flush = false, bool* deferred = nullptr) {
  const auto rows = tx.exec_prepared("log_append", batch.topics, batch.partitions, batch.keys,
                                     batch.values, defer_flush);
  if (deferred) *deferred = defer_flush && !rows.empty() && rows[0][3].as<std::string>() == "off";
  std::vector<Position> positions(batch.count);
  for (const auto& row : rows) {
    const auto ord = row[0].as<int64_t>();
    positions.at(static_cast<size_t>(ord - 1)) =
        Position{PartitionId{row[1].as<int32_t>()}, Offset{row[2].as<int64_t>()}};
  }
  return positions;
}

// What a fenced commit did: the appended records' positions (in input order), or, when an
// owner row no longer had its lease's epoch, that partition (and then nothing was written).
struct FencedCommit {
  std::vector<Position> positions;
  std::optional<int32_t> fenced_partition;
};

// fenced_commit_sql, on its own (autocommit) transaction. `partitions`, `epochs` and `consumed`
// are per lease.
FencedCommit run_fenced_commit(pqxx::connection& c, const std::string& group,
                               const std::vector<int32_t>& partitions,
                               const std::vector<int64_t>& epochs,
                               const std::vector<int64_t>& consumed, const EncodedBatch& batch) {
  pqxx::nontransaction tx(c);
  const auto rows = tx.exec_prepared("log_fenced_commit", batch.topics, batch.partitions,
                                     batch.keys, batch.values, group, int_array(partitions),
                                     int_array(epochs), int_array(consumed));
  std::map<int32_t, int64_t> owners;
  FencedCommit out;
  out.positions.resize(batch.count);
  for (const auto& row : rows) {
    if (row[0].c_str()[0] == 'f') {
      owners[row[1].as<int32_t>()] = row[2].as<int64_t>();
    } else {
      out.positions.at(static_cast<size_t>(row[3].as<int64_t>() - 1)) =
          Position{PartitionId{row[1].as<int32_t>()}, Offset{row[2].as<int64_t>()}};
    }
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    auto it = owners.find(partitions[i]);
    if (it == owners.end() || it->second != epochs[i]) {
      out.fenced_partition = partitions[i];
      out.positions.clear();
      break;
    }
  }
  return out;
}

// The end each commit gave the partitions its records went to.
std::vector<AppendedEnd> appended_ends(const std::vector<const OutRecord*>& records,
                                       const std::vector<Position>& positions) {
  std::vector<AppendedEnd> ends;
  for (size_t i = 0; i < positions.size(); ++i) {
    const Offset end{positions[i].offset.value() + 1};
    auto same = std::find_if(ends.begin(), ends.end(), [&](const AppendedEnd& e) {
      return e.topic == records[i]->topic && e.partition == positions[i].partition;
    });
    if (same == ends.end())
      ends.push_back({records[i]->topic, positions[i].partition, end});
    else if (same->end.value() < end.value())
      same->end = end;
  }
  return ends;
}

// What a read returns of each record.
enum class RecordColumns { all, offset_and_value };

// "_t<topic>_p<partition>": names the statements that read one partition's own table.
std::string partition_suffix(Topic topic, PartitionId partition) {
  return "_t" + std::to_string(static_cast<int>(topic)) + "_p" + std::to_string(partition.value());
}

// " FROM log.records_t<topic>_p<partition> WHERE topic = <topic> AND partition = <partition>"
std::string from_partition_table(Topic topic, PartitionId partition) {
  const std::string t = std::to_string(static_cast<int>(topic));
  const std::string n = std::to_string(partition.value());
  return " FROM log.records_t" + t + "_p" + n + " WHERE topic = " + t + " AND partition = " + n;
}

// Reads one partition's records from its position, values only: a range read of audit verify.
std::vector<Record> read_offsets_and_values(pqxx::connection& c, Topic topic, Position& from,
                                            int64_t limit) {
  const std::string name = "log_read_values" + partition_suffix(topic, from.partition);
  c.prepare(name, "SELECT \"offset\", value" + from_partition_table(topic, from.partition) +
                      " AND \"offset\" >= $2 ORDER BY \"offset\" LIMIT $1");
  pqxx::nontransaction tx(c);
  const auto rows = tx.exec_prepared(name, limit, from.offset.value());
  std::vector<Record> records(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Record& r = records[i];
    r.topic = topic;
    r.partition = from.partition;
    r.offset = Offset{rows[i][0].as<int64_t>()};
    r.value.assign(rows[i][1].c_str(), rows[i][1].size());
  }
  if (!records.empty()) from.offset = Offset{records.back().offset.value() + 1};
  return records;
}

// Reads records of `topic` from each position; advances the positions past what it returns.
std::vector<Record> read_records(pqxx::connection& c, Topic topic, std::vector<Position>& from,
                                 size_t max_records, RecordColumns columns) {
  const auto limit = static_cast<int64_t>(std::max<size_t>(max_records, 1));
  if (from.size() == 1 && columns == RecordColumns::offset_and_value)
    return read_offsets_and_values(c, topic, from[0], limit);
  pqxx::result rows;
  if (from.size() == 1) {
    // One partition (a range read): its own table, with neither the round robin nor its sort.
    const std::string name = "log_read" + partition_suffix(topic, from[0].partition);
    c.prepare(name,
              "SELECT partition, \"offset\", key, value,"
              " (date_part('epoch', appended_at) * 1000)::bigint" +
                  from_partition_table(topic, from[0].partition) +
                  " AND \"offset\" >= $2 ORDER BY \"offset\" LIMIT $1");
    pqxx::nontransaction tx(c);
    rows = tx.exec_prepared(name, limit, from[0].offset.value());
  } else {
    std::vector<int32_t> partitions;
    std::vector<int64_t> offsets;
    for (const auto& p : from) {
      partitions.push_back(p.partition.value());
      offsets.push_back(p.offset.value());
    }
    pqxx::nontransaction tx(c);
    rows = tx.exec_prepared("log_read", limit, int_array(partitions), int_array(offsets),
                            static_cast<int>(topic));
  }
  std::vector<Record> records;
  records.reserve(rows.size());
  for (const auto& row : rows) {
    Record r;
    r.topic = topic;
    r.partition = PartitionId{row[0].as<int32_t>()};
    r.offset = Offset{row[1].as<int64_t>()};
    r.key = row[2].as<std::string>();
    r.value = row[3].as<std::string>();
    r.appended_at = Timestamp{std::chrono::milliseconds{row[4].as<int64_t>()}};
    records.push_back(std::move(r));
  }
  if (from.size() > 1)
    std::stable_sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
      return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
    });
  for (const auto& r : records) {
    for (auto& p : from) {
      if (p.partition == r.partition && p.offset <= r.offset)
        p.offset = Offset{r.offset.value() + 1};
    }
  }
  return records;
}

// A reader's own connection (a group consumer's also holds its partitions' advisory locks).
// Opened lazily; reset() after an error and the next get() reconnects. It does not LISTEN: the
// process's AppendWatch does, for all its readers.
class ReadingConnection {
 public:
  explicit ReadingConnection(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  pqxx::connection& get() {
    if (!connection_) {
      auto c = pg::open_connection(conninfo_);
      // For log_read (see read_sql). The connection's other statements are lookups by key, on
      // the same plan either way.
      c->set_variable("plan_cache_mode", "force_generic_plan");
      // The generic plan's estimates assume a third of each partition's table matches, so on
      // a log of a million events its cost passes jit_above_cost, and compiling it took 1.5 s
      // of every poll that reads a few records.
      c->set_variable("jit", "off");
      prepare_statements(*c);
      connection_ = std::move(c);
    }
    return *connection_;
  }
  bool connected() const { return connection_ && connection_->is_open(); }
  void reset() { connection_.reset(); }

 private:
  std::string conninfo_;
  std::unique_ptr<pqxx::connection> connection_;
};

// Reads what `schedule` says is due of `positions` (advancing them) and notes what reached the
// end. Empty when nothing is due.
std::vector<Record> read_due(pqxx::connection& c, Topic topic, std::vector<Position>& positions,
                             size_t max_records, ReadSchedule& schedule,
                             const AppendWatch::Subscription& watch,
                             RecordColumns columns = RecordColumns::all) {
  auto due = schedule.due(positions, watch, Clock::now());
  if (due.empty()) return {};
  auto records = read_records(c, topic, due, max_records, columns);
  schedule.after_read(due, records.size(), std::max<size_t>(max_records, 1));
  for (const auto& d : due)
    for (auto& p : positions)
      if (p.partition == d.partition) p.offset = d.offset;
  return records;
}

class PostgresLogReader : public LogReader {
 public:
  explicit PostgresLogReader(PostgresLog& log)
      : connection_(log.conninfo()),
        watch_(log.watch().subscribe(topic_)),
        schedule_(log.partition_count()) {}

  void assign(Topic topic, const std::vector<Position>& from) override {
    if (topic != topic_) watch_->follow(topic);
    topic_ = topic;
    positions_ = from;
    schedule_.read_everything();
    at_end_ = false;
    std::lock_guard lock(skips_mutex_);
    skips_.clear();
  }

  bool at_end(PartitionId) const override { return at_end_; }
  void interrupt() override { watch_->interrupt(); }
  // Single-partition reads then leave out the key, the partition and the append time: a
  // \copy of one partition of the 1M bench log (64,443 events) took 0.16-0.21 s without them
  // and 0.22-0.25 s with them, and a whole verify went from ~382,000 to ~436,000 events/s.
  void read_offsets_and_values_only() override { columns_ = RecordColumns::offset_and_value; }

  bool skip_delivered(PartitionId partition, Offset first, Offset end) override {
    if (first.value() >= end.value()) return true;
    std::lock_guard lock(skips_mutex_);
    auto& ranges = skips_[partition.value()];
    // Bounded: a forgotten range is only records read after all.
    if (ranges.size() >= kMaxPendingSkips) ranges.pop_front();
    ranges.push_back({first.value(), end.value()});
    has_skips_.store(true, std::memory_order_release);
    return true;
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) override {
    const auto deadline = Clock::now() + wait;
    try {
      if (positions_.empty()) {
        std::this_thread::sleep_until(deadline);
        return std::vector<Record>{};
      }
      auto& c = connection_.get();
      while (true) {
        apply_skips();
        auto records = read_due(c, topic_, positions_, max_records, schedule_, *watch_, columns_);
        // Offsets are assigned under the partition's row lock, so an empty read is the end;
        // nothing due means every partition's last read reached its end and nothing was
        // announced past it.
        at_end_ = records.empty();
        if (!records.empty() || Clock::now() >= deadline) return records;
        const auto waited = watch_->wait(deadline);
        if (waited == AppendWatch::Subscription::Waited::woken) continue;
        // A missed announcement is found by the full read after a wait that timed out.
        if (waited == AppendWatch::Subscription::Waited::timed_out) schedule_.read_everything();
        return records;
      }
    } catch (const std::exception& e) {
      connection_.reset();
      schedule_.read_everything();
      return unexpected(to_log_error(e));
    }
  }

 private:
  static constexpr size_t kMaxPendingSkips = 64;  // per partition

  // On the polling thread: moves positions over the ranges skip_delivered() was told of. A
  // partition whose announced end it then reaches is not read at all (ReadSchedule::due).
  void apply_skips() {
    if (!has_skips_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(skips_mutex_);
    for (auto it = skips_.begin(); it != skips_.end();) {
      auto position = std::find_if(positions_.begin(), positions_.end(), [&](const Position& p) {
        return p.partition.value() == it->first;
      });
      auto& ranges = it->second;
      while (position != positions_.end() && !ranges.empty()) {
        const auto [first, end] = ranges.front();
        if (position->offset.value() < first) break;  // records before it are still to read
        if (position->offset.value() < end) position->offset = Offset{end};
        ranges.pop_front();
      }
      // A partition this reader does not read keeps nothing.
      it = (ranges.empty() || position == positions_.end()) ? skips_.erase(it) : std::next(it);
    }
    has_skips_.store(!skips_.empty(), std::memory_order_release);
  }

  ReadingConnection connection_;
  Topic topic_ = Topic::events;
  std::unique_ptr<AppendWatch::Subscription> watch_;
  ReadSchedule schedule_;
  std::vector<Position> positions_;
  bool at_end_ = false;  // the last read found nothing past any position
  RecordColumns columns_ = RecordColumns::all;
  std::mutex skips_mutex_;
  // partition -> ranges [first, end) to skip, in the order the committer reported them.
  std::map<int32_t, std::deque<std::pair<int64_t, int64_t>>> skips_;
  std::atomic<bool> has_skips_{false};
};

struct LeaseState {
  std::atomic<bool> revoked{false};
};

class PostgresPartitionLease : public PartitionLease {
 public:
  PostgresPartitionLease(PostgresLog& log, std::string group, PartitionId partition, Epoch epoch,
                         Offset consumed, std::shared_ptr<LeaseState> state)
      : log_(log),
        group_(std::move(group)),
        partition_(partition),
        epoch_(epoch),
        consumed_(consumed),
        state_(std::move(state)) {}

  PartitionId partition() const override { return partition_; }
  Epoch epoch() const override { return epoch_; }
  Offset consumed() const override { return consumed_; }
  const std::string& group() const { return group_; }
  bool revoked() const { return state_->revoked; }
  // After a group commit that included this lease went through.
  void committed(Offset consumed) { consumed_ = consumed; }

  LogError fenced(const std::string& why) const {
    return LogError{"partition " + std::to_string(partition_.value()) + " of group " + group_ +
                        " " + why + " (epoch " + std::to_string(epoch_.value()) + ")",
                    false, true};
  }

  Result<std::vector<Position>> commit(const std::vector<OutRecord>& records,
                                       Offset consumed) override {
    if (state_->revoked) return unexpected(fenced("was revoked from this member"));
    auto batch = encode_batch(records, log_.partition_count());
    if (!batch) return unexpected(batch.error());
    try {
      auto lease = log_.pool().acquire(log_.options().acquire_timeout);
      auto done = run_fenced_commit(*lease, group_, {partition_.value()}, {epoch_.value()},
                                    {consumed.value()}, *batch);
      if (done.fenced_partition) return unexpected(fenced("has a newer owner"));
      const std::vector<Position>& positions = done.positions;
      consumed_ = consumed;
      if (!positions.empty()) log_.announce_appended(pointers_to(records), positions);
      return positions;
    } catch (const std::exception& e) {
      return unexpected(to_log_error(e));
    }
  }

 private:
  PostgresLog& log_;
  const std::string group_;
  const PartitionId partition_;
  const Epoch epoch_;
  Offset consumed_;
  std::shared_ptr<LeaseState> state_;
};

class PostgresGroupConsumer : public GroupConsumer {
 public:
  PostgresGroupConsumer(PostgresLog& log, Topic topic, std::string group,
                        RebalanceListener& listener)
      : log_(log),
        topic_(topic),
        group_(std::move(group)),
        listener_(listener),
        lock_key_(static_cast<int32_t>(murmur2("counsel_log_group:" + group_))),
        channel_(log.conninfo()),
        watch_(log.watch().subscribe(topic)),
        schedule_(log.partition_count()) {}

  ~PostgresGroupConsumer() override {
    if (closed_) return;
    // No listener calls here: it may already be gone. Closing the session frees the locks.
    for (auto& [partition, owned] : owned_) owned.state->revoked = true;
    leave_quietly();
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds wait) override {
    if (closed_) return unexpected(LogError{"group consumer is closed", false, false});
    const auto deadline = Clock::now() + wait;
    try {
      join_if_needed();
      while (true) {
        maintain_membership();
        if (!owned_.empty()) {
          std::vector<Position> from;
          for (const auto& [partition, owned] : owned_) {
            from.push_back({PartitionId{partition}, owned.next});
          }
          auto records = read_due(channel_.get(), topic_, from, max_records, schedule_, *watch_);
          for (const auto& p : from) owned_.at(p.partition.value()).next = p.offset;
          if (!records.empty()) return records;
        }
        if (Clock::now() >= deadline) return std::vector<Record>{};
        auto wake_at = std::min(deadline, next_heartbeat_);
        if (static_cast<int>(owned_.size()) < share_) wake_at = std::min(wake_at, next_acquire_);
        const auto waited = watch_->wait(wake_at);
        if (waited == AppendWatch::Subscription::Waited::interrupted) return std::vector<Record>{};
        // A missed announcement is found by the full read after a wait that timed out.
        if (waited == AppendWatch::Subscription::Waited::timed_out) schedule_.read_everything();
      }
    } catch (const std::exception& e) {
      auto error = to_log_error(e);
      schedule_.read_everything();
      if (!channel_.connected()) lose_everything();
      return unexpected(std::move(error));
    }
  }

  void interrupt() override { watch_->interrupt(); }

  void seek(PartitionId partition, Offset offset) override {
    schedule_.read_again(partition);
    if (auto it = owned_.find(partition.value()); it != owned_.end()) it->second.next = offset;
  }

  Result<std::vector<std::vector<Position>>> commit_together(
      const std::vector<LeaseCommit>& commits, const BeforeAnnouncing& before_announcing) override {
    if (commits.empty()) return std::vector<std::vector<Position>>{};
    std::vector<PostgresPartitionLease*> leases;
    std::vector<const OutRecord*> records;
    std::vector<int32_t> partitions;
    std::vector<int64_t> epochs;
    std::vector<int64_t> consumed;
    for (const auto& c : commits) {
      auto* lease = dynamic_cast<PostgresPartitionLease*>(c.lease);
      if (lease == nullptr || lease->group() != group_)
        return unexpected(LogError{"a group commit names a lease of another group", false, false});
      if (lease->revoked()) return unexpected(lease->fenced("was revoked from this member"));
      leases.push_back(lease);
      for (const auto& r : *c.records) records.push_back(&r);
      partitions.push_back(lease->partition().value());
      epochs.push_back(lease->epoch().value());
      consumed.push_back(c.consumed.value());
    }
    auto batch = encode_batch(records, log_.partition_count());
    if (!batch) return unexpected(batch.error());
    try {
      FencedCommit done;
      {
        // Given back before the hook and the announcement run.
        auto connection = log_.pool().acquire(log_.options().acquire_timeout);
        done = run_fenced_commit(*connection, group_, partitions, epochs, consumed, *batch);
      }
      if (done.fenced_partition) {
        for (auto* lease : leases)
          if (lease->partition().value() == *done.fenced_partition)
            return unexpected(lease->fenced("has a newer owner"));
      }
      const std::vector<Position>& positions = done.positions;
      for (size_t i = 0; i < commits.size(); ++i) leases[i]->committed(commits[i].consumed);
      auto per_commit = positions_per_commit(positions, commits);
      call_before_announcing(before_announcing, per_commit);
      if (!positions.empty()) log_.announce_appended(records, positions);
      return per_commit;
    } catch (const std::exception& e) {
      return unexpected(to_log_error(e));
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (!owned_.empty()) {
      listener_.on_revoked(owned_partitions());
      for (auto& [partition, owned] : owned_) owned.state->revoked = true;
      owned_.clear();
    }
    leave_quietly();
  }

 private:
  struct Owned {
    Offset next;
    std::shared_ptr<LeaseState> state;
  };

  void join_if_needed() {
    if (channel_.connected()) return;
    channel_.reset();
    auto& c = channel_.get();
    // The backend pid makes the member id unique while this session lives.
    member_id_ = log_.member() + "#" + std::to_string(c.backendpid());
    next_heartbeat_ = Clock::now();
  }

  void maintain_membership() {
    const auto now = Clock::now();
    if (now >= next_heartbeat_) {
      heartbeat();
      next_heartbeat_ = now + log_.options().heartbeat_interval;
      next_acquire_ = now;
    }
    const auto owned = static_cast<int>(owned_.size());
    if (owned > share_) {
      // Give back the highest partitions; the newcomers take them.
      auto partitions = owned_partitions();
      release(std::vector<PartitionId>(partitions.end() - (owned - share_), partitions.end()));
    } else if (owned < share_ && now >= next_acquire_) {
      acquire(share_ - owned);
      next_acquire_ = now + log_.options().acquire_interval;
    }
  }

  void heartbeat() {
    pqxx::nontransaction tx(channel_.get());
    tx.exec_prepared("log_heartbeat", group_, member_id_);
    const double timeout_seconds =
        std::chrono::duration<double>(log_.options().member_timeout).count();
    tx.exec_prepared("log_expire_members", group_, timeout_seconds);
    const auto live =
        std::max<int64_t>(1, tx.exec_prepared("log_count_members", group_)[0][0].as<int64_t>());
    const int partitions = log_.partition_count();
    share_ = static_cast<int>((partitions + live - 1) / live);
  }

  void acquire(int wanted) {
    const int partitions = log_.partition_count();
    // Start at a member-specific partition so members do not all contend for partition 0.
    const int start = static_cast<int>(murmur2(member_id_) % static_cast<uint32_t>(partitions));
    std::vector<int32_t> candidates;
    for (int i = 0; i < partitions; ++i) {
      const int32_t p = (start + i) % partitions;
      if (!owned_.contains(p)) candidates.push_back(p);
    }
    if (candidates.empty()) return;
    auto& c = channel_.get();
    std::vector<int32_t> locked;
    {
      pqxx::nontransaction tx(c);
      for (const auto& row :
           tx.exec_prepared("log_try_lock", lock_key_, int_array(candidates), wanted)) {
        locked.push_back(row[0].as<int32_t>());
      }
    }
    if (locked.empty()) return;
    std::sort(locked.begin(), locked.end());
    std::map<int32_t, Epoch> epochs;
    std::map<int32_t, Offset> positions;
    try {
      pqxx::work tx(c);
      for (const auto& row :
           tx.exec_prepared("log_bump_epochs", group_, member_id_, int_array(locked))) {
        epochs[row[0].as<int32_t>()] = Epoch{row[1].as<int64_t>()};
      }
      // A separate statement: it must see a position the former owner committed while the
      // bump above waited for its row lock.
      for (const auto& row : tx.exec_prepared("log_positions", group_, int_array(locked))) {
        positions[row[0].as<int32_t>()] = Offset{row[1].as<int64_t>()};
      }
      tx.commit();
    } catch (...) {
      if (channel_.connected()) {
        pqxx::nontransaction tx(c);
        tx.exec_prepared("log_unlock", lock_key_, int_array(locked));
      }
      throw;
    }
    std::vector<std::unique_ptr<PartitionLease>> leases;
    for (const int32_t p : locked) {
      const Offset consumed = positions.contains(p) ? positions[p] : Offset{0};
      auto state = std::make_shared<LeaseState>();
      owned_[p] = Owned{consumed, state};
      schedule_.read_again(PartitionId{p});
      leases.push_back(std::make_unique<PostgresPartitionLease>(log_, group_, PartitionId{p},
                                                                epochs.at(p), consumed, state));
    }
    listener_.on_assigned(std::move(leases));
  }

  void release(const std::vector<PartitionId>& partitions) {
    if (partitions.empty()) return;
    listener_.on_revoked(partitions);
    std::vector<int32_t> numbers;
    for (const auto& p : partitions) {
      numbers.push_back(p.value());
      if (auto it = owned_.find(p.value()); it != owned_.end()) {
        it->second.state->revoked = true;
        owned_.erase(it);
      }
    }
    pqxx::nontransaction tx(channel_.get());
    tx.exec_prepared("log_unlock", lock_key_, int_array(numbers));
  }

  // The session is gone, and with it every advisory lock: nothing is ours any more.
  void lose_everything() {
    channel_.reset();
    share_ = 0;
    if (owned_.empty()) return;
    const auto partitions = owned_partitions();
    for (auto& [partition, owned] : owned_) owned.state->revoked = true;
    owned_.clear();
    try {
      listener_.on_revoked(partitions);
    } catch (...) {  // the caller already gets the connection error
    }
  }

  void leave_quietly() noexcept {
    try {
      if (channel_.connected()) {
        pqxx::nontransaction tx(channel_.get());
        tx.exec_prepared("log_leave", group_, member_id_);
      }
    } catch (...) {  // the member row expires by itself
    }
    channel_.reset();  // ends the session: releases every advisory lock it held
  }

  std::vector<PartitionId> owned_partitions() const {
    std::vector<PartitionId> out;
    for (const auto& [partition, owned] : owned_) out.push_back(PartitionId{partition});
    return out;
  }

  PostgresLog& log_;
  const Topic topic_;
  const std::string group_;
  RebalanceListener& listener_;
  const int32_t lock_key_;
  ReadingConnection channel_;
  std::unique_ptr<AppendWatch::Subscription> watch_;
  ReadSchedule schedule_;
  std::string member_id_;
  std::map<int32_t, Owned> owned_;
  int share_ = 0;
  Clock::time_point next_heartbeat_{};
  Clock::time_point next_acquire_{};
  bool closed_ = false;
};

}  // namespace

PostgresLog::PostgresLog(std::string conninfo, int partition_count, std::string member,
                         PostgresLogOptions options)
    : conninfo_(std::move(conninfo)),
      partition_count_(partition_count),
      member_(std::move(member)),
      options_(options),
      pool_(conninfo_, options_.pool_size, [](pqxx::connection& c) { prepare_statements(c); }),
      announcer_(std::make_unique<AppendAnnouncer>(conninfo_)),
      watch_(std::make_unique<AppendWatch>(conninfo_, partition_count)) {
  if (partition_count_ <= 0) {
    throw std::invalid_argument("the log needs at least one partition");
  }
  auto lease = pool_.acquire(options_.acquire_timeout);
  pqxx::work tx(*lease);
  tx.exec_prepared("log_claim_partition_count", std::to_string(partition_count_));
  const auto stored = tx.exec_prepared("log_partition_count")[0][0].as<std::string>();
  tx.commit();
  if (stored != std::to_string(partition_count_)) {
    throw std::runtime_error("the log was created with " + stored + " partitions but " +
                             std::to_string(partition_count_) +
                             " are configured; a key's partition depends on the count, so it "
                             "cannot change (log.settings partition_count)");
  }
  // Each (topic, partition) has its own table (migration 011); a log opened for the first time
  // gets them here, where the partition count is settled.
  std::vector<int32_t> topics;
  for (auto t : kAllTopics) topics.push_back(static_cast<int32_t>(t));
  pqxx::work create(*lease);
  create.exec_prepared("log_ensure_record_partitions", int_array(topics), partition_count_);
  create.commit();
}

PostgresLog::~PostgresLog() = default;

// After the commit, never inside the transaction: PostgreSQL holds a database-wide lock from a
// notifying transaction's pre-commit until its commit is flushed, which would serialize every
// append behind one WAL flush each (no group commit).
void PostgresLog::announce_appended(const std::vector<const OutRecord*>& records,
                                    const std::vector<Position>& positions) noexcept {
  // The records are committed: a failure here must not read as a failed append (a caller
  // would append them again). Readers find them when their waits time out.
  try {
    const auto ends = appended_ends(records, positions);
    watch_->appended(ends);
    announcer_->announce(ends);
  } catch (const std::exception& e) {
    logging::warn("log", std::string("announcing appends failed: ") + e.what());
  }
}

bool PostgresLog::deferred_flush(const std::vector<OutRecord>& records) {
  return !records.empty() && std::all_of(records.begin(), records.end(),
                                         [](const OutRecord& r) { return r.durable_with_outcome; });
}

Result<std::vector<Position>> PostgresLog::append(const std::vector<OutRecord>& records) {
  if (records.empty()) return std::vector<Position>{};
  auto batch = encode_batch(records, partition_count_);
  if (!batch) return unexpected(batch.error());
  for (int attempt = 1;; ++attempt) {
    try {
      auto lease = pool_.acquire(options_.acquire_timeout);
      // A single statement is its own transaction: one round trip per batch.
      std::vector<Position> positions;
      {
        pqxx::nontransaction tx(*lease);
        bool deferred = false;
        positions = run_append(tx, *batch, deferred_flush(records), &deferred);
        if (deferred) deferred_flush_appends_.fetch_add(1, std::memory_order_relaxed);
      }
      announce_appended(pointers_to(records), positions);
      return positions;
    } catch (const std::exception& e) {
      // Nothing was written; safe to run again.
      if (attempt < 3 && is_deadlock_or_serialization(e)) continue;
      return unexpected(to_log_error(e));
    }
  }
}

Result<Offset> PostgresLog::end_offset(Topic topic, PartitionId partition) {
  try {
    auto lease = pool_.acquire(options_.acquire_timeout);
    pqxx::nontransaction tx(*lease);
    const auto rows =
        tx.exec_prepared("log_end_offset", static_cast<int>(topic), partition.value());
    return Offset{rows.empty() ? 0 : rows[0][0].as<int64_t>()};
  } catch (const std::exception& e) {
    return unexpected(to_log_error(e));
  }
}

std::unique_ptr<LogReader> PostgresLog::reader() {
  return std::make_unique<PostgresLogReader>(*this);
}

std::unique_ptr<GroupConsumer> PostgresLog::join_group(Topic topic, const std::string& group,
                                                       RebalanceListener& listener) {
  return std::make_unique<PostgresGroupConsumer>(*this, topic, group, listener);
}

Result<bool> PostgresLog::ping() {
  try {
    auto lease = pool_.acquire(options_.acquire_timeout);
    pqxx::nontransaction tx(*lease);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception& e) {
    return unexpected(to_log_error(e));
  }
}

std::unique_ptr<PostgresLog> make_postgres_log(const std::string& conninfo, int partition_count,
                                               const std::string& member,
                                               PostgresLogOptions options) {
  return std::make_unique<PostgresLog>(conninfo, partition_count, member, options);
}

}  // namespace counsel::log
