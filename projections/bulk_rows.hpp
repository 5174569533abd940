#pragma once
// Rows a projection inserts with one statement per batch instead of one per event.
//
// A statement per event costs a round trip to PostgreSQL each, and on two shared cores those
// round trips, not the work inside PostgreSQL, bound both the live projector and rebuilds. A
// projection whose rows are only ever inserted, and never read or changed again by its own
// apply() within a batch (the audit trail, notifications), adds them here instead; the batch
// writes each statement's rows at once, as text arrays the statement unnests.
//
// Where the rows are written depends on the apply mode (batch_apply.cpp): at the end of a
// strict batch, or right after each event in a careful one, so a failure there is still the
// failure of one event, quarantined alone.
#include <pqxx/pqxx>

#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace counsel::projections {

class BulkRows {
 public:
  // `sql` takes column i as a text[] parameter $i (1-based), then the `fixed` parameters as
  // $columns+1... (values shared by every row). The arrays list the rows in the order they
  // were added; a statement that cares (none does today) unnests WITH ORDINALITY.
  BulkRows(std::string sql, size_t columns, std::vector<std::string> fixed = {});

  // One value per column (nullopt: NULL).
  void add(std::vector<std::optional<std::string>> row);
  size_t size() const { return rows_; }
  size_t columns() const { return columns_.size(); }
  const std::vector<std::string>& fixed() const { return fixed_; }
  // The statement returns one text column: payloads to NOTIFY on `channel` once the batch
  // has committed (pg::PostCommitNotifier), never inside its transaction. Throws
  // std::logic_error when another channel was set before.
  BulkRows& announcing_on(const std::string& channel);
  // The statement changes rows that bulk inserts of the same batch may add (an UPDATE ... FROM
  // unnest), so BulkRowSet writes it after every statement not marked so.
  BulkRows& written_last();
  bool is_written_last() const { return written_last_; }
  // The statement returns one row whose one column counts the rows it found nothing to apply
  // to (an UPDATE's unknown keys); a count above zero fails the write with `error` (in a strict
  // batch, the batch is redone event by event and the event at fault quarantined). Not
  // together with announcing_on().
  // Cheap to call again with the same error (a projection marks its statement at every row).
  BulkRows& failing_on_misses(std::string_view error);
  // The statement returns rows to hand over, under `tag`, once the batch has committed
  // (ApplyContext::returned_rows), never a rolled-back write's. Not together with
  // announcing_on() or failing_on_misses().
  BulkRows& returning_rows(const std::string& tag);
  const std::string& returned_tag() const { return returned_tag_; }
  // The results the writes returned, handed over once.
  std::vector<pqxx::result> take_returned() { return std::exchange(returned_, {}); }
  // Runs the statement over the rows added since the last write (nothing when there are none).
  void write(pqxx::transaction_base& tx);
  // Drops the rows not written yet (the payloads of earlier writes stay).
  void clear();
  const std::string& announce_channel() const { return announce_channel_; }
  // The payloads the writes returned, handed over once.
  std::vector<std::string> take_announcements() { return std::exchange(announced_, {}); }

 private:
  std::string sql_;
  std::vector<std::string> fixed_;
  // Column-major: each column's array literal, built as rows arrive.
  std::vector<std::string> columns_;
  size_t rows_ = 0;
  std::string announce_channel_;
  std::vector<std::string> announced_;
  bool written_last_ = false;
  std::string miss_error_;    // empty: the statement's result is not checked
  std::string returned_tag_;  // empty: the statement's rows are not kept
  std::vector<pqxx::result> returned_;
};

// Appends `values` to `key`'s in `into` (no key is added for none).
template <class T>
void append_to(std::map<std::string, std::vector<T>>& into, const std::string& key,
               std::vector<T>&& values) {
  if (values.empty()) return;
  auto& kept = into[key];
  kept.insert(kept.end(), std::make_move_iterator(values.begin()),
              std::make_move_iterator(values.end()));
}

// append_to for each key of `from`.
template <class T>
void append_per_key(std::map<std::string, std::vector<T>>& into,
                    std::map<std::string, std::vector<T>>&& from) {
  for (auto& [key, values] : from) append_to(into, key, std::move(values));
}

// Every BulkRows of a batch, one per statement text. Statements are written in the order of
// their text, not of their first row, those marked written_last() after all others: bulk tables
// must not depend on each other (no foreign keys between them).
class BulkRowSet {
 public:
  // Throws std::logic_error when `sql` was first asked for with other columns or fixed values.
  BulkRows& rows(const std::string& sql, size_t columns, std::vector<std::string> fixed = {});
  void write(pqxx::transaction_base& tx);
  // Drops the rows not written yet.
  void clear();
  bool empty() const;
  // channel -> payloads the writes returned (BulkRows::announcing_on), handed over once: to
  // announce after the commit, or to drop with a transaction that rolled back.
  std::map<std::string, std::vector<std::string>> take_announcements();
  // tag -> results the writes returned (BulkRows::returning_rows), handed over once.
  std::map<std::string, std::vector<pqxx::result>> take_returned();

 private:
  std::map<std::string, BulkRows> by_sql_;
};

}  // namespace counsel::projections
