#include "tests/bench/seed/identity_rows.hpp"

#include <sodium.h>

#include <pqxx/pqxx>
#include <stdexcept>

#include "domain/aggregates/patient.hpp"
#include "domain/events/envelope.hpp"
#include "tests/bench/seed/command_factory.hpp"

namespace counsel::bench {
namespace {

// Rows per INSERT ... SELECT FROM unnest(...): big enough to be quick, small enough for memory.
constexpr size_t kChunkRows = 20'000;

// Two columns of one bulk insert as PostgreSQL array literals. The values are hex digits,
// UUIDs and patient ids: nothing that needs quoting.
struct ColumnPair {
  std::string first = "{", second = "{";
  size_t rows = 0;
  void add(const std::string& a, const std::string& b) {
    if (rows++ > 0) {
      first += ',';
      second += ',';
    }
    first += a;
    second += b;
  }
};

std::string key_hex(const crypto::SubjectKey& key) {
  std::string hex(crypto::SubjectKey::kSize * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.data(), crypto::SubjectKey::kSize);
  hex.pop_back();
  return hex;
}

// `add_rows` calls its argument with each row (a, b); `sql` reads them as $1 and $2.
template <class AddRows>
void insert_pairs(pqxx::connection& c, const std::string& sql, AddRows&& add_rows) {
  ColumnPair pending;
  auto flush = [&] {
    if (pending.rows == 0) return;
    pqxx::work tx(c);
    tx.exec_params(sql, pending.first + '}', pending.second + '}');
    tx.commit();
    pending = ColumnPair{};
  };
  add_rows([&](const std::string& a, const std::string& b) {
    pending.add(a, b);
    if (pending.rows >= kChunkRows) flush();
  });
  flush();
}

}  // namespace

void require_fresh(log::Log& log, pqxx::connection& connection) {
  for (int p = 0; p < log.partition_count(); ++p) {
    auto end = log.end_offset(log::Topic::events, log::PartitionId{p});
    if (!end) throw std::runtime_error("cannot read the events log: " + end.error().message);
    if (end->value() > 0)
      throw std::runtime_error("the events log already holds events (partition " +
                               std::to_string(p) +
                               "): the loader needs a fresh database and empty topics");
  }
  pqxx::read_transaction tx(connection);
  if (tx.exec("SELECT 1 FROM identity.email_claims LIMIT 1").size() > 0)
    throw std::runtime_error(
        "identity.email_claims is not empty: the loader needs a fresh database");
}

void write_identity_rows(pqxx::connection& connection, const Population& people,
                         const HistoryPlan& plan) {
  // SubjectKeyring::get_or_create stores exactly this row (the key as 32 raw bytes) the first
  // time the api seals something for a user: here all at once.
  insert_pairs(connection,
               "INSERT INTO identity.subject_keys (subject, key) "
               "SELECT s, decode(k, 'hex') FROM unnest($1::uuid[], $2::text[]) AS t(s, k)",
               [&](auto&& row) {
                 for (const auto& c : people.counselors) row(c.id.value().str(), key_hex(c.key));
                 for (const auto& k : people.clients) row(k.id.value().str(), key_hex(k.key));
               });
  // api/account_registration.cpp reserves each email before its account.register.
  insert_pairs(connection,
               "INSERT INTO identity.email_claims (email_hash, user_id) "
               "SELECT * FROM unnest($1::text[], $2::uuid[])",
               [&](auto&& row) {
                 for (const auto& c : people.counselors)
                   row(crypto::email_hash(c.email), c.id.value().str());
                 for (const auto& k : people.clients)
                   row(crypto::email_hash(k.email), k.id.value().str());
               });
  // api/handlers/patient_handlers.cpp create_patient claims the owner and the phone.
  insert_pairs(connection,
               "INSERT INTO identity.patient_owner_claims (owner_id, patient_id) "
               "SELECT * FROM unnest($1::uuid[], $2::text[])",
               [&](auto&& row) {
                 for (const auto& p : plan.patients)
                   row(people.clients[p.client].id.value().str(), p.id);
               });
  insert_pairs(
      connection,
      "INSERT INTO identity.patient_phone_claims (phone_hash, patient_id) "
      "SELECT * FROM unnest($1::text[], $2::text[])",
      [&](auto&& row) {
        for (const auto& p : plan.patients)
          row(sha256_hex("patient-phone:" + patient::phone_digits(patient_phone(p.client))), p.id);
      });
}

}  // namespace counsel::bench
