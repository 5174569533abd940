// Projectors on both log engines: scripted events give the expected rows; a projector
// interrupted mid-batch ends exactly where a rebuild from offset zero does; projectors split
// partitions; poisoned events are quarantined; a rebuild swaps in while events keep coming.
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include "api/fresh_sessions.hpp"
#include "counsel_process.hpp"
#include "domain/events/canonical_event_view.hpp"
#include "domain/events/envelope.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/random_ids.hpp"
#include "projections/consistency.hpp"
#include "projections/projection.hpp"
#include "projections/projector_runner.hpp"
#include "projections/read_queries.hpp"
#include "projections/rebuild.hpp"
#include "test_database.hpp"
#include "test_log_engines.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::log_engines;
using counsel::testing::TestLog;
using projections::ProjectorRunner;
namespace data = boost::unit_test::data;

namespace {

constexpr int kPartitions = 4;

// Appends events straight to the events topic, as the command processor would.
class EventScript {
 public:
  explicit EventScript(log::Log& log) : log_(log) {}

  log::Position append(const std::string& type, const std::string& stream,
                       const std::string& data_json, int version = 1) {
    EventEnvelope e;
    e.id = EventId{new_uuid_v7()};
    e.type = type;
    e.version = version;
    e.stream = stream;
    e.sequence = ++sequence_[stream];
    e.partition = log_.partition_for(stream).value();
    clock_ += 1s;
    e.occurred_at = clock_;
    e.actor = Actor{UserId{new_uuid_v7()}, Role::system};
    e.command_id = CommandId{new_uuid_v7()};
    e.correlation_id = CorrelationId{new_uuid_v7()};
    e.data_json = data_json;
    seal_event(e, "");
    return append_raw(stream, encode_event(e));
  }

  log::Position append_raw(const std::string& key, const std::string& value) {
    auto r = log_.append({log::OutRecord{log::Topic::events, key, value, std::nullopt}});
    if (!r) throw std::runtime_error("append failed: " + r.error().message);
    return r->front();
  }

  UserId register_user(const std::string& role, const std::string& name,
                       const std::string& email = "") {
    UserId id{new_uuid_v7()};
    const auto s = id.value().str();
    const std::string mail = email.empty() ? s + "@Example.org" : email;
    append("account.registered", account_stream(id),
           R"({"user_id":")" + s + R"(","role":")" + role + R"(","email":")" + mail +
               R"(","email_hash":")" + sha256_hex(s) + R"(","display_name":")" + name +
               R"(","password_hash":"$argon2id$v=19$fake"})");
    return id;
  }

  void profile(const UserId& c, const std::string& specialties, const std::string& languages,
               const std::string& level, const std::string& bio) {
    append("counselor.profile_updated", counselor_stream(c),
           R"({"counselor_id":")" + c.value().str() + R"(","specialties":)" + specialties +
               R"(,"languages":)" + languages + R"(,"level":")" + level + R"(","bio":")" + bio +
               R"("})");
  }

  void weekday_availability(const UserId& c) {
    append("counselor.availability_set", counselor_stream(c),
           R"({"counselor_id":")" + c.value().str() +
               R"(","time_zone":"Africa/Johannesburg","weekly":[)"
               R"({"day":"mon","start":"09:00","end":"17:00"},)"
               R"({"day":"tue","start":"09:00","end":"17:00"}],)"
               R"("buffer_minutes":15,"min_notice_minutes":60,"overrides":[]})");
  }

  SessionId request(const UserId& c, const UserId& client, const std::string& start,
                    const std::string& end, int minutes) {
    SessionId s{new_uuid_v7()};
    append("session.requested", counselor_stream(c),
           R"({"session_id":")" + s.value().str() + R"(","counselor_id":")" + c.value().str() +
               R"(","client_id":")" + client.value().str() + R"(","start":")" + start +
               R"(","end":")" + end + R"(","duration_minutes":)" + std::to_string(minutes) +
               R"(,"topic":"exam stress","mode":"video"})");
    return s;
  }

  // A patient record (seed 003) of `owner`, with clear text where the api would seal fields
  // (the tests' decryptor passes clear text through). Odd `n` write v2 (session entries
  // sealed: one the decryptor reads, one it cannot, as if erased), even `n` v1 (in clear).
  void patient_record(const std::string& id, const UserId& owner, int n) {
    const std::string stream = "patient-" + id;
    const std::string ids =
        R"({"patient_id":")" + id + R"(","owner_id":")" + owner.value().str() + "\"";
    const int version = n % 2 == 1 ? 2 : 1;
    const std::string sessions =
        version == 2 ? R"([{"session_id":"s0"},{"details":"{\"n\":1}","session_id":"s1"}])"
                     : R"([{"session_id":"s0"},{"n":1,"session_id":"s1"}])";
    append("patient.created", stream,
           ids + R"(,"first_name":"Name )" + std::to_string(n) +
               R"(","last_name":"Patient","phone_no":"+2782000000)" + std::to_string(n % 10) +
               R"(","email":"","ssn":"","address":"","allergies_and_medication":"none",)"
               R"("date_of_birth":"1990-01-01","added_note":"","about_note":"",)"
               R"("password_hash":"x","sex":"O","profile_picture":"","tags":["new"],)"
               R"("sessions":)" +
               sessions + R"(,"wallet_balance_cents":100})",
           version);
    append("patient.tag_added", stream, ids + R"(,"tag":"t)" + std::to_string(n) + "\"}");
    append("patient.session_added", stream,
           ids + (version == 2 ? R"(,"session":{"details":"enc:v1:AAAA","session_id":"s"}})"
                               : R"(,"session":{"session_id":"s"}})"),
           version);
    append("patient.wallet_updated", stream, ids + R"(,"amount_cents":50,"balance_cents":150})");
    append("patient.updated", stream, ids + R"(,"about_note":"edited","tags":["a","b"]})", version);
    if (n % 3 == 2) append("patient.deleted", stream, ids + "}");
  }

  void transition(const std::string& type, const UserId& c, const UserId& client,
                  const SessionId& s, const std::string& extra = "") {
    append(type, counselor_stream(c),
           R"({"session_id":")" + s.value().str() + R"(","counselor_id":")" + c.value().str() +
               R"(","client_id":")" + client.value().str() + "\"" + extra + "}");
  }

 private:
  log::Log& log_;
  std::map<std::string, int64_t> sequence_;
  Timestamp clock_ = *parse_rfc3339("2026-01-05T06:00:00Z");
};

// A little of everything: users of each role, profiles, availability, sessions in every state.
void script_world(EventScript& s, int counselors, int clients) {
  std::vector<UserId> cs, us;
  for (int i = 0; i < counselors; ++i) {
    cs.push_back(s.register_user("counselor", "Counsellor " + std::to_string(i)));
    s.profile(cs.back(), R"(["Anxiety","Trauma"])", R"(["English","isiZulu"])", "senior",
              "Bio number " + std::to_string(i));
    s.weekday_availability(cs.back());
  }
  for (int i = 0; i < clients; ++i) {
    us.push_back(s.register_user("client", "Client " + std::to_string(i)));
    const std::string user = R"({"user_id":")" + us.back().value().str() + "\"";
    // The account stream's later events: status, two-factor, the client profile.
    if (i % 3 == 0) {
      s.append("account.two_factor_enabled", account_stream(us.back()),
               user + R"(,"totp_secret":"secret","recovery_code_hashes":[")" +
                   sha256_hex("a" + std::to_string(i)) + R"(",")" +
                   sha256_hex("b" + std::to_string(i)) + R"("]})");
      s.append("account.recovery_code_used", account_stream(us.back()),
               user + R"(,"code_hash":")" + sha256_hex("a" + std::to_string(i)) + R"("})");
    }
    if (i % 2 == 0)
      s.append(
          "account.client_profile_updated", account_stream(us.back()),
          user + R"(,"picture_url":"","bio":"Bio )" + std::to_string(i) +
              R"(","address":"","preferences":"{\"reminders\":true}","preferred_language":"zu",)"
              R"("anonymous":)" +
              (i % 4 == 0 ? "true" : "false") + R"(,"alias":"Alias )" + std::to_string(i) +
              R"("})");
    if (i % 4 == 1) {
      s.append("account.suspended", account_stream(us.back()), user + R"(,"reason":""})");
      if (i % 8 == 1) s.append("account.reinstated", account_stream(us.back()), user + "}");
    }
  }
  for (const auto& c : cs)
    s.append("counselor.verified", counselor_stream(c),
             R"({"counselor_id":")" + c.value().str() + R"("})");
  for (size_t i = 0; i < us.size(); ++i) {
    const auto& c = cs[i % cs.size()];
    const std::string day = std::to_string(10 + static_cast<int>(i % 10));
    auto session =
        s.request(c, us[i], "2026-02-" + day + "T08:00:00Z", "2026-02-" + day + "T09:00:00Z", 60);
    switch (i % 5) {
      case 0:
        s.transition("session.confirmed", c, us[i], session);
        break;
      case 1:
        s.transition(
            "session.cancelled", c, us[i], session,
            R"(,"cancelled_by":")" + us[i].value().str() + R"(","reason":"ill","late":true)");
        break;
      case 2:
        s.transition("session.declined", c, us[i], session, R"(,"reason":"full")");
        break;
      case 3:
        s.transition("session.confirmed", c, us[i], session);
        s.transition("session.completed", c, us[i], session);
        // One comment the tests' decryptor cannot read: its client counts as erased.
        s.transition("review.submitted", c, us[i], session,
                     R"(,"review_id":")" + new_uuid_v7().str() + R"(","rating":)" +
                         std::to_string(1 + i % 4) + R"(,"comment":")" +
                         (i == 8 ? "enc:v1:AAAA" : "Kind and clear") + "\"");
        break;
      default:
        break;  // stays requested
    }
    const std::string n = std::to_string(i % 1000000);
    s.patient_record("p_" + std::string(6 - n.size(), '0') + n, us[i], static_cast<int>(i));
  }
  // Chat rooms (their own streams, so other partitions than the sessions): a message each way.
  for (size_t i = 0; i < us.size(); i += 5) {
    const UserId& c = cs[i % cs.size()];
    const std::string room = new_uuid_v7().str();
    const std::string stream = "room-" + room;
    s.append("room.opened", stream,
             R"({"room_id":")" + room + R"(","client_id":")" + us[i].value().str() +
                 R"(","counselor_id":")" + c.value().str() + R"(","session_id":""})");
    std::string last_message;
    for (const UserId& sender : {us[i], c}) {
      last_message = new_uuid_v7().str();
      s.append("chat.message_sent", stream,
               R"({"room_id":")" + room + R"(","message_id":")" + last_message +
                   R"(","sender_id":")" + sender.value().str() +
                   R"(","content":"enc:v1:sealed","message_type":"text"})");
    }
    s.append("chat.messages_read", stream,
             R"({"room_id":")" + room + R"(","user_id":")" + us[i].value().str() +
                 R"(","up_to":")" + last_message + "\"}");
    // The counsellor read the client's chat history: an access record on the client's stream.
    s.append("access.recorded", "access-" + us[i].value().str(),
             R"({"subject_id":")" + us[i].value().str() +
                 R"(","what":"chat_history","resource_id":")" + room +
                 R"(","why":"care_relationship"})");
  }
}

// A new client whose account stream shares `counselor`'s partition, so that an account event
// (an erasure) lands in the same projector batch as the counsellor's events around it.
UserId client_on_partition_of(EventScript& script, log::Log& log, const UserId& counselor) {
  const auto partition = log.partition_for(counselor_stream(counselor));
  while (true) {
    auto client = script.register_user("client", "Client");
    if (log.partition_for(account_stream(client)) == partition) return client;
  }
}

// A review.submitted event of `client` for `session` with `counselor`.
void submit_review(EventScript& script, const UserId& counselor, const UserId& client,
                   const SessionId& session, int rating, const std::string& comment) {
  script.append("review.submitted", counselor_stream(counselor),
                R"({"session_id":")" + session.value().str() + R"(","counselor_id":")" +
                    counselor.value().str() + R"(","client_id":")" + client.value().str() +
                    R"(","review_id":")" + new_uuid_v7().str() + R"(","rating":)" +
                    std::to_string(rating) + R"(,"comment":")" + comment + R"("})");
}

// A patient.created event of `who` at `version` with these session entries (a JSON array).
void patient_created(EventScript& script, const std::string& id, const UserId& who,
                     const std::string& sessions, int version) {
  script.append("patient.created", "patient-" + id,
                R"({"patient_id":")" + id + R"(","owner_id":")" + who.value().str() +
                    R"(","first_name":"A","last_name":"B","phone_no":"+27820000001",)"
                    R"("email":"","ssn":"","address":"","allergies_and_medication":"none",)"
                    R"("date_of_birth":"1990-01-01","added_note":"","about_note":"",)"
                    R"("password_hash":"x","sex":"O","profile_picture":"","tags":[],)"
                    R"("sessions":)" +
                    sessions + R"(,"wallet_balance_cents":0})",
                version);
}

bool caught_up(ProjectorRunner& r) {
  for (const auto& [name, lag] : r.lag()) {
    if (lag != 0) return false;
  }
  return true;
}

void drain(std::vector<ProjectorRunner*> runners, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto* r : runners) r->run_once(50, 20ms);
    if (caught_up(*runners.front())) return;
  }
  BOOST_FAIL("projectors did not catch up");
}

std::string scalar(pqxx::connection& c, const std::string& sql) {
  pqxx::read_transaction tx(c);
  auto f = tx.exec1(sql)[0];
  return f.is_null() ? "NULL" : f.c_str();
}

// One session's row of read.sessions, as the SQL expression `columns` makes it.
std::string session_row(pqxx::connection& c, const std::string& columns, const SessionId& s) {
  return scalar(
      c, "SELECT " + columns + " FROM read.sessions WHERE session_id = '" + s.value().str() + "'");
}

// An order-independent fingerprint of a whole table.
std::string digest(pqxx::connection& c, const std::string& schema, const std::string& table) {
  return scalar(c,
                "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY "
                "t::text)), '-') FROM " +
                    schema + "." + table + " t");
}

// Builds every projection from offset zero into fresh schemas and compares with `read`.
void expect_read_models_equal_rebuild(pg::PgPool& pool, log::Log& log) {
  projections::ClearTextDecryptor decryptor;
  auto lease = pool.acquire(5s);
  for (const auto& p : projections::all_projections()) {
    auto built = projections::rebuild_into_schema(pool, log, decryptor, std::string(p->name()),
                                                  {.batch_size = 7, .progress = {}});
    for (const auto& table : p->tables()) {
      BOOST_TEST_CONTEXT(p->name() << "." << table) {
        const auto live = digest(lease.connection(), "read", table);
        BOOST_TEST(live == digest(lease.connection(), built.schema, table));
        BOOST_TEST(live.substr(0, 2) != "0:");  // compared something
      }
    }
    pqxx::work tx(lease.connection());
    tx.exec0("DROP SCHEMA " + tx.quote_name(built.schema) + " CASCADE");
    tx.commit();
  }
}

struct World {
  explicit World(const std::string& engine) : log(engine, db, kPartitions, "t") {}
  counsel::testing::TestDatabase db;
  TestLog log;
  pg::PgPool pool{db.conninfo(), 6};
  projections::ClearTextDecryptor decryptor;
  EventScript script{*log};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(projections_test)

BOOST_DATA_TEST_CASE(projects_a_scripted_stream_into_the_expected_rows, data::make(log_engines()),
                     engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Thandi Mokoena", "Thandi@Example.ORG");
  w.script.profile(counselor, R"(["Anxiety","Grief"])", R"(["English","isiZulu"])", "Senior",
                   "Twelve years in practice");
  w.script.weekday_availability(counselor);
  auto client = w.script.register_user("client", "Sipho");
  auto erased = w.script.register_user("client", "enc:v1:AAAA", "enc:v1:BBBB");
  auto confirmed =
      w.script.request(counselor, client, "2026-02-02T08:00:00Z", "2026-02-02T09:00:00Z", 60);
  w.script.transition("session.confirmed", counselor, client, confirmed);
  // v2 seals a decline's reason with the client's key: NULL when the key is gone (this decryptor
  // reads no sealed field, as if every client were erased).
  auto declined =
      w.script.request(counselor, erased, "2026-02-04T08:00:00Z", "2026-02-04T09:00:00Z", 60);
  w.script.append("session.declined", counselor_stream(counselor),
                  R"({"session_id":")" + declined.value().str() + R"(","counselor_id":")" +
                      counselor.value().str() + R"(","client_id":")" + erased.value().str() +
                      R"(","reason":"enc:v1:AAAA"})",
                  2);
  // v1 (still in the log) carried a cancellation's reason in clear text: shown as logged.
  auto cancelled =
      w.script.request(counselor, client, "2026-02-03T08:00:00Z", "2026-02-03T08:30:00Z", 30);
  auto last = w.script.append(
      "session.cancelled", counselor_stream(counselor),
      R"({"session_id":")" + cancelled.value().str() + R"(","counselor_id":")" +
          counselor.value().str() + R"(","client_id":")" + client.value().str() +
          R"(","cancelled_by":")" + client.value().str() + R"(","reason":"sick","late":true})");

  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  // Nothing projected yet: a consistency wait on the last event times out, for a request
  // waiting on its own connection and for the api's shared watcher alike.
  BOOST_TEST(!projections::wait_until_reached(w.pool, {last}, 50ms));
  projections::ConsistencyWatcher watcher(w.db.conninfo());
  watcher.start();
  BOOST_TEST(!watcher.wait({last}, 50ms));
  std::thread waiter_result_thread;
  std::atomic<bool> waited{false};
  waiter_result_thread = std::thread([&pool = w.pool, &waited, last] {
    waited = projections::wait_until_reached(pool, {last}, 20s);
  });
  drain({&runner});
  waiter_result_thread.join();
  BOOST_TEST(waited.load());
  BOOST_TEST(watcher.wait({last}, 10s));
  // The counsellors read model (whose queries api processes cache) changed: its version moved.
  const auto counselors_version = watcher.version("counselors");
  BOOST_REQUIRE(counselors_version.has_value());
  BOOST_TEST(*counselors_version >= 1u);

  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  const auto cid = counselor.value().str();
  BOOST_TEST(scalar(c, "SELECT count(*) FROM read.users") == "3");
  BOOST_TEST(scalar(c,
                    "SELECT email || '|' || display_name || '|' || role || '|' || status "
                    "FROM read.users WHERE user_id = '" +
                        cid + "'") == "thandi@example.org|Thandi Mokoena|counselor|active");
  BOOST_TEST(scalar(c,
                    "SELECT coalesce(email, 'NULL') || '|' || coalesce(display_name, 'NULL') "
                    "FROM read.users WHERE user_id = '" +
                        erased.value().str() + "'") == "NULL|NULL");
  BOOST_TEST(scalar(c, "SELECT password_hash FROM read.credentials WHERE user_id = '" + cid +
                           "'") == "$argon2id$v=19$fake");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM read.counselors") == "1");
  BOOST_TEST(scalar(c,
                    "SELECT display_name || '|' || array_to_string(specialties, ',') || '|' ||"
                    " array_to_string(languages_lc, ',') || '|' || level || '|' ||"
                    " has_availability || '|' || time_zone FROM read.counselors") ==
             "Thandi Mokoena|Anxiety,Grief|english,isizulu|Senior|true|Africa/Johannesburg");
  BOOST_TEST(scalar(c, "SELECT availability ? 'counselor_id' FROM read.counselor_availability") ==
             "f");
  BOOST_TEST(scalar(c, "SELECT availability->>'time_zone' FROM read.counselor_availability") ==
             "Africa/Johannesburg");
  BOOST_TEST(scalar(c,
                    "SELECT status || '|' || topic || '|' || mode || '|' || duration_minutes"
                    " FROM read.sessions WHERE session_id = '" +
                        confirmed.value().str() + "'") == "confirmed|exam stress|video|60");
  BOOST_TEST(scalar(c,
                    "SELECT status || '|' || late_cancellation || '|' || cancellation_reason"
                    " || '|' || (cancelled_by = client_id) FROM read.sessions"
                    " WHERE session_id = '" +
                        cancelled.value().str() + "'") == "cancelled|true|sick|true");
  BOOST_TEST(scalar(c,
                    "SELECT status || '|' || coalesce(decline_reason, 'NULL') FROM read.sessions"
                    " WHERE session_id = '" +
                        declined.value().str() + "'") == "declined|NULL");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM projection.quarantine") == "0");
  BOOST_TEST(projections::read_models_reached(c, {last}));
  BOOST_TEST(runner.events_committed() == 11u);
}

// A session's changes are written one statement per batch: several changes of one session in a
// batch end as the events applied one by one would leave it, a change finds a session requested
// in the same batch, and a change of an unknown session is quarantined alone.
BOOST_DATA_TEST_CASE(many_changes_of_a_session_in_one_batch_end_as_applied_one_by_one,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Naledi");
  auto client = w.script.register_user("client", "Kagiso");
  auto earlier =
      w.script.request(counselor, client, "2026-02-05T08:00:00Z", "2026-02-05T09:00:00Z", 60);
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});

  // One batch: all on the counsellor's stream, fewer events than a batch holds.
  auto cancelled =
      w.script.request(counselor, client, "2026-02-02T08:00:00Z", "2026-02-02T09:00:00Z", 60);
  w.script.transition("session.confirmed", counselor, client, cancelled);
  w.script.transition(
      "session.cancelled", counselor, client, cancelled,
      R"(,"cancelled_by":")" + client.value().str() + R"(","reason":"clash","late":true)");
  auto completed =
      w.script.request(counselor, client, "2026-02-03T08:00:00Z", "2026-02-03T09:00:00Z", 60);
  w.script.transition("session.confirmed", counselor, client, completed);
  w.script.transition("session.completed", counselor, client, completed);
  auto declined =
      w.script.request(counselor, client, "2026-02-04T08:00:00Z", "2026-02-04T09:00:00Z", 60);
  w.script.transition("session.declined", counselor, client, declined, R"(,"reason":"full")");
  // Out of the aggregate's order (the projection does not judge): a cancellation, then another
  // by the counsellor without a reason, then a completion. The status and time are the last
  // change's, the cancellation's fields the last cancellation's.
  w.script.transition(
      "session.cancelled", counselor, client, earlier,
      R"(,"cancelled_by":")" + client.value().str() + R"(","reason":"first","late":true)");
  w.script.transition("session.cancelled", counselor, client, earlier,
                      R"(,"cancelled_by":")" + counselor.value().str() + R"(","late":false)");
  w.script.transition("session.completed", counselor, client, earlier);
  drain({&runner});

  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  const auto row = [&](const SessionId& s) {
    return session_row(c,
                       "status || '|' || late_cancellation || '|' ||"
                       " coalesce(cancellation_reason, 'NULL') || '|' ||"
                       " coalesce((cancelled_by = client_id)::text, 'NULL') || '|' ||"
                       " coalesce(decline_reason, 'NULL') || '|' ||"
                       " extract(epoch FROM updated_at - created_at)::int",
                       s);
  };
  BOOST_TEST(row(cancelled) == "cancelled|true|clash|true|NULL|2");
  BOOST_TEST(row(completed) == "completed|false|NULL|NULL|NULL|2");
  BOOST_TEST(row(declined) == "declined|false|NULL|NULL|full|1");
  BOOST_TEST(row(earlier) == "completed|false|NULL|false|NULL|11");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM projection.quarantine") == "0");

  // A change of a session nobody requested fails the batch's one statement; the batch is
  // redone event by event, and only that event is quarantined.
  auto later =
      w.script.request(counselor, client, "2026-02-06T08:00:00Z", "2026-02-06T09:00:00Z", 60);
  w.script.transition("session.confirmed", counselor, client, SessionId{new_uuid_v7()});
  w.script.transition("session.confirmed", counselor, client, later);
  drain({&runner});
  BOOST_TEST(row(later) == "confirmed|false|NULL|NULL|NULL|2");
  BOOST_TEST(
      scalar(c, "SELECT string_agg(projection || ':' || error, ',') FROM projection.quarantine") ==
      "sessions:a session change for an unknown session");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM read.sessions") == "5");
}

// An erasure that follows changes of the client's sessions in the same batch comes after them:
// the reasons those changes gave go with the client's other words (the changes are written
// before the erasure's statement, not at the end of the batch).
BOOST_DATA_TEST_CASE(an_erasure_after_session_changes_in_one_batch_clears_their_reasons,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Naledi");
  const UserId client = client_on_partition_of(w.script, *w.log, counselor);
  auto declined =
      w.script.request(counselor, client, "2026-02-02T08:00:00Z", "2026-02-02T09:00:00Z", 60);
  auto cancelled =
      w.script.request(counselor, client, "2026-02-03T08:00:00Z", "2026-02-03T09:00:00Z", 60);
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});

  w.script.transition("session.declined", counselor, client, declined, R"(,"reason":"full")");
  w.script.transition(
      "session.cancelled", counselor, client, cancelled,
      R"(,"cancelled_by":")" + client.value().str() + R"(","reason":"ill","late":false)");
  w.script.append("account.erased", account_stream(client),
                  R"({"user_id":")" + client.value().str() + R"(","approved_by":""})");
  drain({&runner});

  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  const auto row = [&](const SessionId& s) {
    return session_row(
        c,
        "status || '|' || coalesce(topic, 'NULL') || '|' ||"
        " coalesce(decline_reason, 'NULL') || '|' || coalesce(cancellation_reason, 'NULL')",
        s);
  };
  BOOST_TEST(row(declined) == "declined|NULL|NULL|NULL");
  BOOST_TEST(row(cancelled) == "cancelled|NULL|NULL|NULL");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM projection.quarantine") == "0");
}

// The audit trail's GIN index keeps no pending list: a projector batch that finds the list full
// merges all of it, and everything waiting on the read models waits with it. Read models built
// with the list are moved over at the next start.
BOOST_AUTO_TEST_CASE(the_audit_subjects_index_keeps_no_pending_list_even_after_an_upgrade) {
  counsel::testing::TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  const auto fastupdate = [&] {
    return scalar(*c,
                  "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class"
                  " WHERE oid = 'read.audit_events_subjects_idx'::regclass");
  };
  projections::ensure_read_models(*c);
  BOOST_TEST(fastupdate() == "fastupdate=off");
  {
    pqxx::work tx(*c);
    tx.exec0("ALTER INDEX read.audit_events_subjects_idx RESET (fastupdate)");
    tx.commit();
  }
  BOOST_TEST(fastupdate() == "");  // as read models built before were
  projections::ensure_read_models(*c);
  BOOST_TEST(fastupdate() == "fastupdate=off");
  projections::ensure_read_models(*c);  // and again: nothing to move
  BOOST_TEST(fastupdate() == "fastupdate=off");
}

// A runner that hands over the rows it inserts gives the api each new session as the read model
// has it: a booking's answer built from them is the one a read of the row gives, once.
BOOST_DATA_TEST_CASE(the_sessions_a_runner_inserted_answer_their_bookings_as_a_read_would,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Ayanda");
  auto client = w.script.register_user("client", "Client");
  api::FreshSessions fresh(2);
  size_t handed_over = 0;
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  runner.on_rows_returned = [&](const auto& returned) {
    for (const auto& [tag, results] : returned) {
      BOOST_TEST(tag == projections::kInsertedSessionsTag);
      for (const auto& rows : results) {
        handed_over += rows.size();
        fresh.add(rows);
      }
    }
  };
  std::vector<SessionId> sessions;
  for (int day = 2; day <= 4; ++day)
    sessions.push_back(w.script.request(counselor, client,
                                        "2026-02-0" + std::to_string(day) + "T08:00:00Z",
                                        "2026-02-0" + std::to_string(day) + "T09:00:00Z", 60));
  drain({&runner});
  BOOST_TEST(handed_over == 3u);
  BOOST_TEST(fresh.size() == 2u);  // the oldest went past the capacity
  BOOST_TEST(!fresh.take(sessions[0].value().str()).has_value());
  auto lease = w.pool.acquire(5s);
  for (size_t i = 1; i < sessions.size(); ++i) {
    const auto id = sessions[i].value().str();
    const auto read = projections::get_session(lease.connection(), id);
    BOOST_REQUIRE(read.has_value());
    const auto answer = fresh.take(id);
    BOOST_REQUIRE(answer.has_value());
    BOOST_TEST(*answer == read->json);
    BOOST_TEST(!fresh.take(id).has_value());  // once
  }
  BOOST_TEST(fresh.size() == 0u);
}

// The api's watcher loads the checkpoints when a projector announces a batch, except for the
// announcements of its own process's projector (payload = its origin), which also calls
// reload_soon() after each batch: a second load per batch was a statement per booking.
BOOST_AUTO_TEST_CASE(the_watcher_skips_its_own_projectors_announcements_but_not_others) {
  counsel::testing::TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  projections::ensure_read_models(*c);
  projections::ConsistencyWatcher watcher(db.conninfo(), "origin-a");
  watcher.start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!watcher.version("counselors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  BOOST_REQUIRE(watcher.version("counselors").has_value());
  // 40 announcements, 5 ms apart: from this process's projector, then from another's. The
  // watcher also loads every 100 ms whatever it hears (a fallback for a lost NOTIFY).
  const auto loads_during_announcements = [&](const std::string& origin) {
    const auto before = watcher.loads();
    for (int i = 0; i < 40; ++i) {
      pqxx::nontransaction(*c).exec_params("SELECT pg_notify($1, $2)",
                                           std::string(projections::kProjectionChannel), origin);
      std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(20ms);
    return watcher.loads() - before;
  };
  const auto own = loads_during_announcements("origin-a");
  const auto foreign = loads_during_announcements("origin-b");
  BOOST_TEST(own <= 6u, own << " loads for the own announcements");
  BOOST_TEST(foreign >= 10u, foreign << " loads for another process's announcements");
  // reload_soon() still loads at once.
  const auto before = watcher.loads();
  watcher.reload_soon();
  const auto soon = std::chrono::steady_clock::now() + 50ms;
  while (watcher.loads() == before && std::chrono::steady_clock::now() < soon)
    std::this_thread::sleep_for(1ms);
  BOOST_TEST(watcher.loads() > before);
  watcher.stop();
}

// Each waiting request is woken by the load that shows its own positions reached, and only then;
// one whose positions stay ahead of the read models times out.
BOOST_AUTO_TEST_CASE(the_watcher_answers_each_waiting_request_by_its_own_positions) {
  counsel::testing::TestDatabase db;
  auto c = pg::open_connection(db.conninfo());
  projections::ensure_read_models(*c);
  // Every projection has applied 5 events of partition 0 and none of partition 1.
  const auto set_applied = [&](int partition, int64_t applied) {
    pqxx::nontransaction(*c).exec_params(
        "INSERT INTO projection.checkpoints (projection, partition, next_offset, events_applied)"
        " SELECT name, $1, $2, $2 FROM unnest($3::text[]) AS name"
        " ON CONFLICT (projection, partition) DO UPDATE"
        " SET next_offset = EXCLUDED.next_offset, events_applied = EXCLUDED.events_applied",
        partition, applied, projections::text_array_literal(projections::projection_names()));
  };
  set_applied(0, 5);
  projections::ConsistencyWatcher watcher(db.conninfo());
  watcher.start();
  const auto at = [](int partition, int64_t offset) {
    return std::vector<log::Position>{{log::PartitionId{partition}, log::Offset{offset}}};
  };
  BOOST_TEST(watcher.wait(at(0, 4), 10s));  // already there
  std::atomic<int> later_result{-1}, never_result{-1};
  std::jthread later([&] { later_result = watcher.wait(at(0, 7), 20s) ? 1 : 0; });
  std::jthread never([&] { never_result = watcher.wait(at(1, 0), 1500ms) ? 1 : 0; });
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(later_result.load() == -1);  // still waiting
  // Partition 0 moves to 7 events applied: offset 7 is not among them yet. Then to 8,
  // announced.
  set_applied(0, 7);
  std::this_thread::sleep_for(300ms);
  BOOST_TEST(later_result.load() == -1);
  const auto moved = std::chrono::steady_clock::now();
  set_applied(0, 8);
  pqxx::nontransaction(*c).exec_params("SELECT pg_notify($1, 'elsewhere')",
                                       std::string(projections::kProjectionChannel));
  later.join();
  BOOST_TEST(later_result.load() == 1);
  BOOST_TEST((std::chrono::steady_clock::now() - moved < 5s));
  never.join();
  BOOST_TEST(never_result.load() == 0);
  watcher.stop();
}

// Reviews are written one statement per batch and each named counsellor's rating recomputed
// after them: several reviews of one counsellor in a batch, a second review of a session
// (ignored), a review that cannot stand (quarantined alone) and an erasure right after a review
// of the same batch (its words go, its rating stays).
BOOST_DATA_TEST_CASE(reviews_of_one_batch_rate_their_counsellors_once_written,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Naledi");
  std::vector<UserId> clients;
  for (int i = 0; i < 2; ++i) clients.push_back(w.script.register_user("client", "Client"));
  // The erased client's erasure follows the review in the same batch.
  clients.push_back(client_on_partition_of(w.script, *w.log, counselor));
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});

  std::vector<SessionId> sessions;
  for (size_t i = 0; i < clients.size(); ++i)
    sessions.push_back(w.script.request(counselor, clients[i],
                                        "2026-02-0" + std::to_string(i + 2) + "T08:00:00Z",
                                        "2026-02-0" + std::to_string(i + 2) + "T09:00:00Z", 60));
  drain({&runner});
  submit_review(w.script, counselor, clients[0], sessions[0], 5, "Warm");
  submit_review(w.script, counselor, clients[1], sessions[1], 2, "Rushed");
  submit_review(w.script, counselor, clients[1], sessions[1], 5, "A second go at the same session");
  submit_review(w.script, counselor, clients[2], sessions[2], 4, "Kind");
  w.script.append("account.erased", account_stream(clients[2]),
                  R"({"user_id":")" + clients[2].value().str() + R"(","approved_by":""})");
  drain({&runner});

  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  const auto cid = counselor.value().str();
  BOOST_TEST(scalar(c,
                    "SELECT rating || '|' || review_count FROM read.counselors"
                    " WHERE counselor_id = '" +
                        cid + "'") == "3.67|3");
  BOOST_TEST(scalar(c,
                    "SELECT string_agg(rating || ':' || coalesce(comment, 'NULL'), ','"
                    " ORDER BY rating) FROM read.reviews") == "2:Rushed,4:NULL,5:Warm");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM projection.quarantine") == "0");

  // A rating out of range fails the batch; redone event by event, that review alone is
  // quarantined and the other review of the batch still rates.
  auto fourth = w.script.register_user("client", "Client");
  clients.push_back(fourth);
  sessions.push_back(
      w.script.request(counselor, fourth, "2026-02-09T08:00:00Z", "2026-02-09T09:00:00Z", 60));
  submit_review(w.script, counselor, clients[3], sessions[3], 9, "Off the scale");
  submit_review(w.script, counselor, clients[3], sessions[3], 1, "Late");
  drain({&runner});
  BOOST_TEST(scalar(c,
                    "SELECT rating || '|' || review_count FROM read.counselors"
                    " WHERE counselor_id = '" +
                        cid + "'") == "3.00|4");
  BOOST_TEST(scalar(c, "SELECT projection FROM projection.quarantine") == "counselors");
  // A rebuild (batches of 7 events, so other boundaries) reaches the same rows.
  auto built = projections::rebuild_into_schema(w.pool, *w.log, w.decryptor, "counselors",
                                                {.batch_size = 7, .progress = {}});
  for (const std::string table : {"counselors", "reviews"})
    BOOST_TEST(digest(c, "read", table) == digest(c, built.schema, table), table);
}

// A patient record's session entries: v1 logged them in clear text; v2 seals all but the id
// with the owner's key (the read model shows them decrypted, as given, or only the id, marked
// erased, once the key is gone); account.erased leaves each entry its id alone.
BOOST_DATA_TEST_CASE(patient_session_entries_are_decrypted_and_go_with_their_owner,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto legacy = w.script.register_user("client", "Lindiwe");
  auto owner = w.script.register_user("client", "Kagiso");

  const auto ids = [](const std::string& id, const UserId& who) {
    return R"({"patient_id":")" + id + R"(","owner_id":")" + who.value().str() + "\"";
  };
  patient_created(w.script, "p_legacy", legacy,
                  R"([{"date":"2026-03-01","session_id":"a"},{"legacy":true},{"session_id":"b"}])",
                  1);
  // v2: the tests' decryptor reads the clear "details" and counts "enc:v1:" as erased.
  patient_created(
      w.script, "p_sealed", owner,
      R"([{"session_id":"a"},{"details":"{\"notes\":\"client disclosed\"}","session_id":"b"}])", 2);
  w.script.append(
      "patient.session_added", "patient-p_sealed",
      ids("p_sealed", owner) + R"(,"session":{"details":"enc:v1:AAAA","session_id":"c"}})", 2);
  w.script.append("patient.session_added", "patient-p_sealed",
                  ids("p_sealed", owner) +
                      R"(,"session":{"details":"{\"date\":\"2026-03-02\"}","session_id":"d"}})",
                  2);
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});
  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  auto sessions = [&](const std::string& id) {
    return scalar(c, "SELECT sessions::text FROM read.patients WHERE patient_id = '" + id + "'");
  };
  BOOST_TEST(
      sessions("p_legacy") ==
      R"([{"date": "2026-03-01", "session_id": "a"}, {"legacy": true}, {"session_id": "b"}])");
  BOOST_TEST(sessions("p_sealed") ==
             R"([{"session_id": "a"}, {"notes": "client disclosed", "session_id": "b"},)"
             R"( {"erased": true, "session_id": "c"}, {"date": "2026-03-02", "session_id": "d"}])");

  // A PUT replaces the entries; then both owners are erased.
  w.script.append("patient.updated", "patient-p_sealed",
                  ids("p_sealed", owner) +
                      R"(,"sessions":[{"details":"{\"notes\":\"again\"}","session_id":"b"},)"
                      R"({"session_id":"e"}]})",
                  2);
  drain({&runner});
  BOOST_TEST(sessions("p_sealed") ==
             R"([{"notes": "again", "session_id": "b"}, {"session_id": "e"}])");
  for (const auto& who : {legacy, owner})
    w.script.append("account.erased", account_stream(who),
                    R"({"user_id":")" + who.value().str() + R"(","approved_by":""})");
  drain({&runner});
  BOOST_TEST(sessions("p_legacy") ==
             R"([{"erased": true, "session_id": "a"}, {"erased": true}, {"session_id": "b"}])");
  BOOST_TEST(sessions("p_sealed") ==
             R"([{"erased": true, "session_id": "b"}, {"session_id": "e"}])");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM projection.quarantine") == "0");

  // A rebuild from offset zero ends where the live projector did.
  auto built = projections::rebuild_into_schema(w.pool, *w.log, w.decryptor, "patients",
                                                {.batch_size = 3, .progress = {}});
  BOOST_TEST(digest(c, "read", "patients") == digest(c, built.schema, "patients"));
  pqxx::work tx(c);
  tx.exec0("DROP SCHEMA " + tx.quote_name(built.schema) + " CASCADE");
  tx.commit();
}

// A rebuild loads partition-local projections on several connections side by side, and the
// others on one; either way it must build exactly what one connection alone builds, erasures
// (whose updates reach rows of other partitions) included.
BOOST_DATA_TEST_CASE(a_rebuild_on_several_connections_equals_one_on_one, data::make(log_engines()),
                     engine) {
  World w(engine);
  script_world(w.script, 3, 20);
  // An erased client: their account stream is on another partition than their session.
  const auto erased = w.script.register_user("client", "Erased");
  const auto counselor = w.script.register_user("counselor", "Counsellor X");
  w.script.request(counselor, erased, "2026-02-20T08:00:00Z", "2026-02-20T09:00:00Z", 60);
  w.script.append("account.erased", account_stream(erased),
                  R"({"user_id":")" + erased.value().str() + R"(","approved_by":""})");
  const auto names = projections::projection_names();
  projections::ClearTextDecryptor one_decryptor, many_decryptor;
  auto one = projections::rebuild_into_schema(w.pool, *w.log, one_decryptor, names,
                                              {.batch_size = 9, .workers = 1, .progress = {}});
  auto many = projections::rebuild_into_schema(w.pool, *w.log, many_decryptor, names,
                                               {.batch_size = 9, .workers = 4, .progress = {}});
  BOOST_TEST(one.events == many.events);
  BOOST_TEST(one.quarantined == 0u);
  BOOST_TEST(many.quarantined == 0u);
  BOOST_TEST(one.counts == many.counts);
  auto lease = w.pool.acquire(5s);
  for (const auto& p : projections::all_projections()) {
    for (const auto& table : p->tables()) {
      BOOST_TEST_CONTEXT(p->name() << "." << table) {
        const auto built_by_one = digest(lease.connection(), one.schema, table);
        BOOST_TEST(built_by_one == digest(lease.connection(), many.schema, table));
      }
    }
  }
  // The erased client's session lost its topic in both.
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM " + many.schema +
                                            ".sessions WHERE client_id = '" + erased.value().str() +
                                            "' AND topic IS NULL") == "1");
  pqxx::work tx(lease.connection());
  for (const auto* schema : {&one.schema, &many.schema})
    tx.exec0("DROP SCHEMA " + tx.quote_name(*schema) + " CASCADE");
  tx.commit();
}

// A batch decodes a record only for the projections that handle its type (read from the
// record's end): for every type a projection says it does not handle, applying such an event
// to its built tables changes nothing.
BOOST_DATA_TEST_CASE(a_projection_changes_nothing_for_the_types_it_does_not_handle,
                     data::make(log_engines()), engine) {
  World w(engine);
  script_world(w.script, 3, 20);
  const auto erased = w.script.register_user("client", "Erased");
  w.script.append("account.erased", account_stream(erased),
                  R"({"user_id":")" + erased.value().str() + R"(","approved_by":""})");
  const auto records = counsel::testing::read_all(*w.log, log::Topic::events);
  auto lease = w.pool.acquire(5s);
  std::set<std::string> skipped_types;
  for (const auto& p : projections::all_projections()) {
    BOOST_TEST_CONTEXT(p->name()) {
      auto built = projections::rebuild_into_schema(
          w.pool, *w.log, w.decryptor, std::string(p->name()), {.batch_size = 50, .progress = {}});
      pqxx::work tx(lease.connection());
      auto table_digests = [&] {
        std::vector<std::string> out;
        for (const auto& table : p->tables())
          out.push_back(tx.exec("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ','"
                                " ORDER BY t::text)), '-') FROM " +
                                tx.quote_name(built.schema) + "." + tx.quote_name(table) +
                                " t")[0][0]
                            .as<std::string>());
        return out;
      };
      const auto before = table_digests();
      tx.exec0("SET LOCAL search_path TO " + tx.quote_name(built.schema) + ", public");
      projections::ApplyContext ctx{w.decryptor};
      for (const auto& r : records) {
        const auto type = peek_event_type(r.value);
        BOOST_REQUIRE_MESSAGE(type, "the writer's record has a readable type: " << r.value);
        if (p->handles(*type)) continue;
        const auto event = decode_event(r.value);
        BOOST_REQUIRE(event.has_value());
        BOOST_CHECK_NO_THROW(p->apply(tx, *event, ctx));
        skipped_types.insert(std::string(p->name()) + ":" + event->type);
      }
      ctx.bulk.write(tx);
      BOOST_TEST(table_digests() == before, boost::test_tools::per_element());
      tx.abort();
      pqxx::work drop(lease.connection());
      drop.exec0("DROP SCHEMA " + drop.quote_name(built.schema) + " CASCADE");
      drop.commit();
    }
  }
  // Sessions, chat and patients each leave types out.
  for (const char* expected : {"sessions:chat.message_sent", "chat:session.requested",
                               "patients:session.requested", "sessions:account.registered"})
    BOOST_TEST(skipped_types.contains(expected), expected);
}

BOOST_DATA_TEST_CASE(a_runner_interrupted_mid_batch_ends_equal_to_a_rebuild,
                     data::make(log_engines()), engine) {
  World w(engine);
  script_world(w.script, 4, 25);
  {
    ProjectorRunner first(w.pool, *w.log, w.decryptor);
    size_t calls = 0;
    bool thrown = false;
    first.on_applied = [&](size_t applied) {
      if (++calls >= 23 && applied >= 2 && !thrown) {
        thrown = true;
        throw std::runtime_error("simulated crash mid-batch");
      }
    };
    bool interrupted = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!interrupted && std::chrono::steady_clock::now() < deadline) {
      try {
        first.run_once(10, 20ms);
      } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()) == "simulated crash mid-batch");
        interrupted = true;
      }
    }
    BOOST_REQUIRE(interrupted);
    BOOST_TEST(!caught_up(first));
    // The same runner carries on (its partitions are re-read from the checkpoints) ...
    calls = 0;
    first.on_applied = [&](size_t applied) {
      if (++calls >= 31 && applied >= 2) throw std::runtime_error("second crash");
    };
    BOOST_CHECK_THROW(
        [&] {
          for (int i = 0; i < 1000; ++i) first.run_once(10, 20ms);
        }(),
        std::runtime_error);
  }
  // ... then dies, and a new one finishes the job.
  ProjectorRunner second(w.pool, *w.log, w.decryptor);
  drain({&second});
  auto lease = w.pool.acquire(5s);
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM projection.quarantine") == "0");
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM read.sessions") == "25");
  // Every counsellor's rating is the mean of their reviews, however the batches fell.
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM read.reviews") == "5");
  BOOST_TEST(
      scalar(lease.connection(), "SELECT count(*) FROM read.reviews WHERE comment IS NULL") == "1");
  BOOST_TEST(scalar(lease.connection(),
                    "SELECT count(*) FROM read.counselors c LEFT JOIN (SELECT counselor_id,"
                    " round(avg(rating), 2) AS mean, count(*) AS n FROM read.reviews"
                    " GROUP BY counselor_id) r USING (counselor_id)"
                    " WHERE c.review_count <> coalesce(r.n, 0)"
                    " OR c.rating IS DISTINCT FROM r.mean") == "0");
  expect_read_models_equal_rebuild(w.pool, *w.log);
}

BOOST_DATA_TEST_CASE(two_runners_split_the_partitions, data::make(log_engines()), engine) {
  World w(engine);
  ProjectorRunner a(w.pool, *w.log, w.decryptor);
  ProjectorRunner b(w.pool, *w.log, w.decryptor);
  const auto deadline = std::chrono::steady_clock::now() + w.log.rebalance_limit();
  while (std::chrono::steady_clock::now() < deadline) {
    a.run_once(50, 20ms);
    b.run_once(50, 20ms);
    if (a.owned_partitions().size() == kPartitions / 2 &&
        b.owned_partitions().size() == kPartitions / 2)
      break;
  }
  auto pa = a.owned_partitions();
  auto pb = b.owned_partitions();
  BOOST_REQUIRE_EQUAL(pa.size(), size_t{kPartitions / 2});
  BOOST_REQUIRE_EQUAL(pb.size(), size_t{kPartitions / 2});
  for (auto p : pa) {
    const bool shared = std::find(pb.begin(), pb.end(), p) != pb.end();
    BOOST_TEST(!shared);
  }

  script_world(w.script, 6, 30);
  drain({&a, &b});
  BOOST_TEST(a.events_committed() > 0u);
  BOOST_TEST(b.events_committed() > 0u);
  BOOST_TEST(a.events_committed() + b.events_committed() > 100u);
  expect_read_models_equal_rebuild(w.pool, *w.log);
}

BOOST_DATA_TEST_CASE(a_poisoned_event_is_quarantined_and_the_projector_moves_on,
                     data::make(log_engines()), engine) {
  World w(engine);
  auto counselor = w.script.register_user("counselor", "Naledi");
  auto client = w.script.register_user("client", "Kagiso");
  // A transition for a session nobody requested, and a record that is not an event at all.
  w.script.transition("session.confirmed", counselor, client, SessionId{new_uuid_v7()});
  w.script.append_raw(counselor_stream(counselor), "this is not json");
  w.script.append("counselor.profile_updated", counselor_stream(counselor),
                  R"({"counselor_id":")" + counselor.value().str() + R"(","specialties":"oops"})");
  auto ok = w.script.request(counselor, client, "2026-02-02T08:00:00Z", "2026-02-02T09:00:00Z", 60);
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});
  const size_t projection_count = projections::projection_names().size();
  BOOST_TEST(runner.events_quarantined() == 2 + projection_count);  // 1 + one per projection + 1

  auto lease = w.pool.acquire(5s);
  auto& c = lease.connection();
  BOOST_TEST(scalar(c,
                    "SELECT string_agg(projection, ',' ORDER BY \"offset\", projection)"
                    " FROM projection.quarantine") ==
             "sessions,audit,chat,counselors,notifications,patients,sessions,users,counselors");
  BOOST_TEST(scalar(c,
                    "SELECT count(*) FROM projection.quarantine WHERE error LIKE"
                    " '%undecodable%'") == std::to_string(projection_count));
  BOOST_TEST(scalar(c, "SELECT status FROM read.sessions WHERE session_id = '" + ok.value().str() +
                           "'") == "requested");
  BOOST_TEST(scalar(c, "SELECT count(*) FROM read.counselors") == "1");
}

BOOST_DATA_TEST_CASE(a_rebuild_swaps_in_while_events_keep_arriving, data::make(log_engines()),
                     engine) {
  World w(engine);
  script_world(w.script, 3, 20);
  projections::ProjectorOptions options;
  options.batch_size = 20;
  ProjectorRunner runner(w.pool, *w.log, w.decryptor, options);
  runner.start();

  std::atomic<bool> writing{true};
  std::thread writer([&shared = w.log, &writing] {
    auto log = shared.open_member("writer");
    EventScript script(*log);
    while (writing) script_world(script, 1, 4);
  });
  std::this_thread::sleep_for(300ms);
  std::vector<projections::RebuildProgress> progress;
  auto swapped = projections::rebuild_projection(
      w.pool, *w.log, w.decryptor, "sessions",
      {.batch_size = 25,
       .progress = [&](const projections::RebuildProgress& p) { progress.push_back(p); }});
  BOOST_TEST(swapped.schema == "read");
  BOOST_TEST(!progress.empty());
  BOOST_TEST(progress.back().events_done == progress.back().events_total);
  projections::rebuild_projection(w.pool, *w.log, w.decryptor, "counselors");
  std::this_thread::sleep_for(200ms);
  writing = false;
  writer.join();

  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!caught_up(runner) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_REQUIRE(caught_up(runner));
  runner.stop();
  {
    auto lease = w.pool.acquire(5s);
    BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM projection.quarantine") == "0");
    BOOST_TEST(scalar(lease.connection(),
                      "SELECT count(*) FROM pg_namespace WHERE nspname"
                      " LIKE 'rebuild_%'") == "0");
  }
  expect_read_models_equal_rebuild(w.pool, *w.log);
}

BOOST_DATA_TEST_CASE(a_projector_process_killed_mid_batch_ends_equal_to_a_rebuild,
                     data::make(log_engines()), engine) {
  World w(engine);
  script_world(w.script, 3, 15);
  // A real `counsel projector` process on the same log, with the fault switched on: it dies
  // half-way through its first batch, before the commit.
  const pid_t child =
      counsel::testing::spawn_counsel(w.log, w.db, "projector", "projector_crash_mid_batch");
  int status = 0;
  BOOST_REQUIRE(counsel::testing::wait_for_exit(child, 60s, status));
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 86);

  ProjectorRunner survivor(w.pool, *w.log, w.decryptor);
  drain({&survivor});
  auto lease = w.pool.acquire(5s);
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM projection.quarantine") == "0");
  expect_read_models_equal_rebuild(w.pool, *w.log);
}

BOOST_DATA_TEST_CASE(a_projector_behind_a_swapped_rebuild_does_not_apply_twice,
                     data::make(log_engines()), engine) {
  World w(engine);
  script_world(w.script, 2, 10);
  ProjectorRunner runner(w.pool, *w.log, w.decryptor);
  drain({&runner});
  script_world(w.script, 2, 10);
  // The rebuild reads to the end and swaps in checkpoints ahead of the idle projector.
  projections::rebuild_projection(w.pool, *w.log, w.decryptor, "sessions");
  drain({&runner});
  auto lease = w.pool.acquire(5s);
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM projection.quarantine") == "0");
  BOOST_TEST(scalar(lease.connection(), "SELECT count(*) FROM read.sessions") == "20");
  expect_read_models_equal_rebuild(w.pool, *w.log);
}

BOOST_AUTO_TEST_SUITE_END()
