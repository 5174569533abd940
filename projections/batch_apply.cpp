#include "projections/batch_apply.hpp"

#include <optional>
#include <string_view>

#include "domain/events/canonical_event_view.hpp"

namespace counsel::projections {
namespace {

int64_t checkpoint_of(const CheckpointMap& from, std::string_view projection, int32_t partition) {
  auto p = from.find(std::string(projection));
  if (p == from.end()) return 0;
  auto o = p->second.find(partition);
  return o == p->second.end() ? 0 : o->second;
}

void quarantine(pqxx::work& tx, const QuarantineEntry& q, const std::string& event_text) {
  tx.exec_params0(
      "INSERT INTO projection.quarantine (projection, partition, \"offset\", error, event,"
      " quarantined_at) VALUES ($1, $2, $3, $4, $5, now())"
      // A rebuild meets the same poisoned event again.
      " ON CONFLICT (projection, partition, \"offset\") DO UPDATE SET error = EXCLUDED.error,"
      " event = EXCLUDED.event, quarantined_at = EXCLUDED.quarantined_at",
      q.projection, q.partition, q.offset, q.error, event_text);
}

// Errors that say nothing about the event: the batch must fail, never quarantine.
bool is_infrastructure_error(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const pqxx::broken_connection&) {
    return true;
  } catch (const pqxx::in_doubt_error&) {
    return true;
  } catch (const pqxx::transaction_rollback&) {
    // A deadlock or serialization failure with another writer: the batch is retried whole.
    return true;
  } catch (...) {
    return false;
  }
}

// The subjects the encrypted fields of `data_json` may be sealed for: every uuid-valued string
// in it (a superset: ids of sessions or rooms simply have no key). A scan, not a parse: the
// projections parse the data again anyway.
void collect_uuid_strings(std::string_view data_json, std::vector<Uuid>& out) {
  constexpr size_t kUuidLength = 36;
  for (size_t quote = data_json.find('"');
       quote != std::string_view::npos && quote + kUuidLength + 1 < data_json.size();
       quote = data_json.find('"', quote + 1)) {
    if (data_json[quote + kUuidLength + 1] != '"') continue;
    if (auto id = Uuid::parse(data_json.substr(quote + 1, kUuidLength))) {
      out.push_back(*id);
      quote += kUuidLength + 1;  // the closing quote
    }
  }
}

}  // namespace

BatchOutcome apply_records(pqxx::work& tx, const std::vector<const Projection*>& projections,
                           const std::vector<log::Record>& records, const CheckpointMap& from,
                           ApplyContext& ctx, ApplyMode mode,
                           const std::function<void(size_t)>& after_each) {
  BatchOutcome outcome;
  // Rows and payloads left by an earlier attempt at this batch (a strict pass that failed,
  // rolled back) are not ours.
  ctx.bulk.clear();
  ctx.bulk.take_announcements();
  ctx.bulk.take_returned();
  ctx.announcements.clear();
  ctx.returned_rows.clear();
  // What the bulk writes returned, once they stand (past their savepoint, or the batch's).
  auto keep_announcements = [&ctx] {
    append_per_key(ctx.announcements, ctx.bulk.take_announcements());
    append_per_key(ctx.returned_rows, ctx.bulk.take_returned());
  };
  // Decoded up front so that the keys of every subject the batch decrypts for can be fetched in
  // one query before the first apply.
  struct Decoded {
    std::vector<const Projection*> due;
    std::optional<EventEnvelope> event;
    std::string error;
  };
  std::vector<Decoded> decoded(records.size());
  std::vector<Uuid> subjects;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    auto& d = decoded[i];
    // Read from the record's end, no parse: what none of the due projections handles is not
    // decoded at all. A record whose type cannot be read so is decoded for all of them.
    const auto type = peek_event_type(record.value);
    for (const auto* p : projections) {
      if (checkpoint_of(from, p->name(), record.partition.value()) <= record.offset.value() &&
          (!type || p->handles(*type)))
        d.due.push_back(p);
    }
    if (d.due.empty()) continue;
    d.event = decode_event(record.value, &d.error);
    if (d.event && d.event->data_json.find(kEncryptedPrefix) != std::string::npos)
      collect_uuid_strings(d.event->data_json, subjects);
  }
  ctx.decryptor.prefetch(subjects);  // also replaces the hint of an earlier batch

  for (size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    const int32_t partition = record.partition.value();
    const int64_t offset = record.offset.value();
    const auto& due = decoded[i].due;
    if (!due.empty()) {
      const std::string& decode_error = decoded[i].error;
      const std::optional<EventEnvelope>& event = decoded[i].event;
      for (const auto* p : due) {
        std::string failure;
        if (!event) {
          failure = "undecodable event: " + decode_error;
        } else if (mode == ApplyMode::strict) {
          try {
            p->apply(tx, *event, ctx);
          } catch (const std::exception& e) {
            if (is_infrastructure_error(std::current_exception())) throw;
            throw ApplyFailed(std::string(p->name()) + ": " + e.what());
          }
          continue;
        } else {
          tx.exec0("SAVEPOINT projection_apply");
          try {
            p->apply(tx, *event, ctx);
            // Event by event, so that a failure there is this event's alone.
            ctx.bulk.write(tx);
            tx.exec0("RELEASE SAVEPOINT projection_apply");
            keep_announcements();
            continue;
          } catch (const std::exception& e) {
            if (is_infrastructure_error(std::current_exception())) throw;
            failure = e.what();
          }
          ctx.bulk.clear();
          ctx.bulk.take_announcements();  // rolled back with the savepoint
          ctx.bulk.take_returned();
          tx.exec0("ROLLBACK TO SAVEPOINT projection_apply");
        }
        if (mode == ApplyMode::strict) throw ApplyFailed(std::string(p->name()) + ": " + failure);
        QuarantineEntry q{std::string(p->name()), partition, offset, failure};
        quarantine(tx, q, record.value);
        outcome.quarantined.push_back(std::move(q));
      }
    }
    ++outcome.events;
    if (after_each) after_each(outcome.events);
  }
  if (mode == ApplyMode::strict) {
    try {
      ctx.bulk.write(tx);
    } catch (const std::exception& e) {
      if (is_infrastructure_error(std::current_exception())) throw;
      ctx.bulk.clear();
      throw ApplyFailed(std::string("bulk rows: ") + e.what());
    }
    keep_announcements();
  }
  ctx.decryptor.prefetch({});  // this batch's hint is spent
  return outcome;
}

}  // namespace counsel::projections
