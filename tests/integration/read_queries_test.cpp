// The api's read queries over projected read models: counsellor search filters and pages,
// free slots that leave booked time out, a user's sessions, users and credentials; the read
// models built from either log engine.
#include <boost/test/unit_test.hpp>

#include <map>

#include "domain/events/envelope.hpp"
#include "domain/json.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/random_ids.hpp"
#include "projections/projector_runner.hpp"
#include "projections/read_queries.hpp"
#include "test_database.hpp"
#include "test_log_engines.hpp"

using namespace counsel;
using namespace std::chrono_literals;
using counsel::testing::log_engines;
namespace data = boost::unit_test::data;

namespace {

class Fixture {
 public:
  explicit Fixture(const std::string& engine) : log(engine, db, 4, "t") {
    counselor_a = register_user("counselor", "Thandi Mokoena");
    profile(counselor_a, R"(["Anxiety","Grief"])", R"(["English","isiZulu"])", "Senior",
            "Twelve years in practice");
    // Mondays and Tuesdays 09:00-17:00 Johannesburg (UTC+2), 15 minutes between sessions.
    append("counselor.availability_set", counselor_stream(counselor_a),
           R"({"counselor_id":")" + counselor_a.value().str() +
               R"(","time_zone":"Africa/Johannesburg","weekly":[)"
               R"({"day":"mon","start":"09:00","end":"17:00"},)"
               R"({"day":"tue","start":"09:00","end":"17:00"}],)"
               R"("buffer_minutes":15,"min_notice_minutes":60,"overrides":[]})");
    counselor_b = register_user("counselor", "Johan Botha");
    profile(counselor_b, R"(["Depression"])", R"(["Afrikaans","English"])", "junior",
            "Also works with anxiety");
    counselor_c = register_user("counselor", "Aisha Patel");
    profile(counselor_c, R"(["Trauma"])", R"(["English"])", "senior", "Trauma_focused 100%");
    client = register_user("client", "Sipho Dlamini");
    other_client = register_user("client", "Lerato");

    // Monday 2 February 2026: 09:00-10:00 UTC (11:00-12:00 local) requested, 12:00 cancelled.
    booked = request(counselor_a, client, "2026-02-02T09:00:00Z", "2026-02-02T10:00:00Z");
    cancelled = request(counselor_a, client, "2026-02-02T12:00:00Z", "2026-02-02T13:00:00Z");
    append("session.cancelled", counselor_stream(counselor_a),
           R"({"session_id":")" + cancelled.value().str() + R"(","counselor_id":")" +
               counselor_a.value().str() + R"(","client_id":")" + client.value().str() +
               R"(","cancelled_by":")" + client.value().str() +
               R"(","reason":"clash","late":false})");
    with_c = request(counselor_c, client, "2026-02-01T08:00:00Z", "2026-02-01T08:45:00Z", 45);
    request(counselor_c, other_client, "2026-02-05T08:00:00Z", "2026-02-05T09:00:00Z");

    projections::ProjectorRunner runner(pool, *log, decryptor);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      runner.run_once(100, 20ms);
      bool done = true;
      for (const auto& [name, lag] : runner.lag()) done = done && lag == 0;
      if (done) break;
    }
  }

  UserId register_user(const std::string& role, const std::string& name) {
    UserId id{new_uuid_v7()};
    const auto s = id.value().str();
    append("account.registered", account_stream(id),
           R"({"user_id":")" + s + R"(","role":")" + role + R"(","email":")" + s +
               R"(@Example.org","email_hash":"hash-)" + s + R"(","display_name":")" + name +
               R"(","password_hash":"$argon2id$fake-)" + s + R"("})");
    return id;
  }

  void profile(const UserId& c, const std::string& specialties, const std::string& languages,
               const std::string& level, const std::string& bio) {
    append("counselor.profile_updated", counselor_stream(c),
           R"({"counselor_id":")" + c.value().str() + R"(","specialties":)" + specialties +
               R"(,"languages":)" + languages + R"(,"level":")" + level + R"(","bio":")" + bio +
               R"("})");
    // Only verified counsellors are listed.
    append("counselor.verified", counselor_stream(c),
           R"({"counselor_id":")" + c.value().str() + R"("})");
  }

  SessionId request(const UserId& c, const UserId& who, const std::string& start,
                    const std::string& end, int minutes = 60) {
    SessionId s{new_uuid_v7()};
    append("session.requested", counselor_stream(c),
           R"({"session_id":")" + s.value().str() + R"(","counselor_id":")" + c.value().str() +
               R"(","client_id":")" + who.value().str() + R"(","start":")" + start +
               R"(","end":")" + end + R"(","duration_minutes":)" + std::to_string(minutes) +
               R"(,"topic":"work stress","mode":"chat"})");
    return s;
  }

  void append(const std::string& type, const std::string& stream, const std::string& data) {
    EventEnvelope e;
    e.id = EventId{new_uuid_v7()};
    e.type = type;
    e.stream = stream;
    e.sequence = ++sequence[stream];
    e.partition = log->partition_for(stream).value();
    e.occurred_at = *parse_rfc3339("2026-01-10T10:00:00Z");
    e.actor = Actor{UserId{new_uuid_v7()}, Role::system};
    e.command_id = CommandId{new_uuid_v7()};
    e.correlation_id = CorrelationId{new_uuid_v7()};
    e.data_json = data;
    seal_event(e, "");
    auto r =
        log->append({log::OutRecord{log::Topic::events, stream, encode_event(e), std::nullopt}});
    if (!r) throw std::runtime_error(r.error().message);
  }

  pqxx::connection& conn() { return lease.connection(); }

  counsel::testing::TestDatabase db;
  counsel::testing::TestLog log;
  pg::PgPool pool{db.conninfo(), 4};
  projections::ClearTextDecryptor decryptor;
  std::map<std::string, int64_t> sequence;
  UserId counselor_a, counselor_b, counselor_c, client, other_client;
  SessionId booked, cancelled, with_c;
  pg::PgPool::Lease lease = pool.acquire(5s);
};

json::Document parse(const std::string& text) {
  auto doc = json::parse(text);
  BOOST_REQUIRE(doc);
  return std::move(*doc);
}

std::vector<std::string> names_of(const json::Document& page) {
  std::vector<std::string> out;
  for (const auto& r : page["results"].GetArray()) out.emplace_back(r["display_name"].GetString());
  return out;
}

std::vector<std::string> search(Fixture& f, projections::CounselorFilter filter) {
  return names_of(parse(projections::search_counselors(f.conn(), filter)));
}

using Names = std::vector<std::string>;

projections::CounselorFilter by(std::string specialty, std::string language = "",
                                std::string level = "", std::string q = "", int page = 1,
                                int per_page = 20) {
  projections::CounselorFilter f;
  f.specialty = std::move(specialty);
  f.language = std::move(language);
  f.level = std::move(level);
  f.q = std::move(q);
  f.page = page;
  f.per_page = per_page;
  return f;
}
projections::CounselorFilter text(std::string q) {
  return by("", "", "", std::move(q));
}
projections::CounselorFilter paging(int page, int per_page) {
  return by("", "", "", "", page, per_page);
}

projections::SessionFilter sessions(std::string status, std::optional<Timestamp> from = {},
                                    std::optional<Timestamp> to = {}, int page = 1,
                                    int per_page = 20) {
  projections::SessionFilter f;
  f.status = std::move(status);
  f.from = from;
  f.to = to;
  f.page = page;
  f.per_page = per_page;
  return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(read_queries_test)

BOOST_DATA_TEST_CASE(counselor_search_filters_case_insensitively, data::make(log_engines()),
                     engine) {
  Fixture f(engine);
  BOOST_TEST(search(f, by("")) == (Names{"Aisha Patel", "Johan Botha", "Thandi Mokoena"}),
             boost::test_tools::per_element());
  BOOST_TEST(search(f, by("ANXIETY")) == Names{"Thandi Mokoena"}, boost::test_tools::per_element());
  BOOST_TEST(search(f, by("", "afrikaans")) == Names{"Johan Botha"},
             boost::test_tools::per_element());
  BOOST_TEST(search(f, by("", "English", "SENIOR")) == (Names{"Aisha Patel", "Thandi Mokoena"}),
             boost::test_tools::per_element());
  // Free text looks at names, bios and specialties.
  BOOST_TEST(search(f, text("anx")) == (Names{"Johan Botha", "Thandi Mokoena"}),
             boost::test_tools::per_element());
  BOOST_TEST(search(f, text("patel")) == Names{"Aisha Patel"}, boost::test_tools::per_element());
  // LIKE wildcards in q are literal.
  BOOST_TEST(search(f, text("100%")) == Names{"Aisha Patel"}, boost::test_tools::per_element());
  BOOST_TEST(search(f, text("_")) == Names{"Aisha Patel"}, boost::test_tools::per_element());
  BOOST_TEST(search(f, by("Anxiety", "afrikaans")).empty());

  auto page = parse(projections::search_counselors(f.conn(), by("grief")));
  const auto& thandi = page["results"][0];
  BOOST_TEST(thandi["id"].GetString() == f.counselor_a.value().str());
  BOOST_TEST(thandi["specialties"][0].GetString() == std::string("Anxiety"));
  BOOST_TEST(thandi["languages"][1].GetString() == std::string("isiZulu"));
  BOOST_TEST(thandi["level"].GetString() == std::string("Senior"));
  BOOST_TEST(thandi["rating"].IsNull());
  BOOST_TEST(thandi["review_count"].GetInt() == 0);
  BOOST_TEST(thandi["verified"].GetBool());
  BOOST_TEST(thandi["has_availability"].GetBool());
  BOOST_TEST(thandi["time_zone"].GetString() == std::string("Africa/Johannesburg"));
}

BOOST_DATA_TEST_CASE(counselor_search_pages, data::make(log_engines()), engine) {
  Fixture f(engine);
  auto first = parse(projections::search_counselors(f.conn(), paging(1, 2)));
  BOOST_TEST(first["total"].GetInt() == 3);
  BOOST_TEST(first["page"].GetInt() == 1);
  BOOST_TEST(first["per_page"].GetInt() == 2);
  BOOST_TEST(first["total_pages"].GetInt() == 2);
  BOOST_TEST(first["has_next"].GetBool());
  BOOST_TEST(!first["has_previous"].GetBool());
  BOOST_TEST(names_of(first) == (Names{"Aisha Patel", "Johan Botha"}),
             boost::test_tools::per_element());
  auto second = parse(projections::search_counselors(f.conn(), paging(2, 2)));
  BOOST_TEST(names_of(second) == Names{"Thandi Mokoena"}, boost::test_tools::per_element());
  BOOST_TEST(!second["has_next"].GetBool());
  BOOST_TEST(second["has_previous"].GetBool());
  auto beyond = parse(projections::search_counselors(f.conn(), paging(9, 2)));
  BOOST_TEST(beyond["results"].Empty());
  BOOST_TEST(beyond["total"].GetInt() == 3);
  auto none = parse(projections::search_counselors(f.conn(), by("astrology")));
  BOOST_TEST(none["total"].GetInt() == 0);
  BOOST_TEST(none["total_pages"].GetInt() == 0);
  BOOST_TEST(!none["has_next"].GetBool());
  // Out-of-range paging is clamped.
  auto clamped = parse(projections::search_counselors(f.conn(), paging(0, 1000)));
  BOOST_TEST(clamped["page"].GetInt() == 1);
  BOOST_TEST(clamped["per_page"].GetInt() == 100);
}

BOOST_DATA_TEST_CASE(get_counselor_finds_counselors_only, data::make(log_engines()), engine) {
  Fixture f(engine);
  auto found = projections::get_counselor(f.conn(), f.counselor_b.value().str());
  BOOST_REQUIRE(found);
  auto doc = parse(*found);
  BOOST_TEST(doc["display_name"].GetString() == std::string("Johan Botha"));
  BOOST_TEST(!doc["has_availability"].GetBool());
  BOOST_TEST(!projections::get_counselor(f.conn(), f.client.value().str()));
  BOOST_TEST(!projections::get_counselor(f.conn(), new_uuid_v7().str()));
  BOOST_TEST(!projections::get_counselor(f.conn(), "not-a-uuid"));
}

BOOST_DATA_TEST_CASE(slots_leave_out_booked_time, data::make(log_engines()), engine) {
  Fixture f(engine);
  const auto now = *parse_rfc3339("2026-01-20T10:00:00Z");
  const auto from = *parse_rfc3339("2026-02-02T00:00:00Z");
  const auto to = *parse_rfc3339("2026-02-03T00:00:00Z");
  auto slots_json =
      projections::counselor_slots(f.conn(), f.counselor_a.value().str(), from, to, 60min, now);
  BOOST_REQUIRE(slots_json);
  auto doc = parse(*slots_json);
  std::vector<std::string> starts;
  for (const auto& s : doc["slots"].GetArray()) {
    starts.emplace_back(s["start"].GetString());
    const auto start = *parse_rfc3339(s["start"].GetString());
    const auto end = *parse_rfc3339(s["end"].GetString());
    BOOST_TEST((end - start == 60min));
    // The booked 09:00-10:00 UTC, widened by the 15 minute buffer, stays free of slots.
    const bool clear = end + 15min <= *parse_rfc3339("2026-02-02T09:00:00Z") ||
                       start >= *parse_rfc3339("2026-02-02T10:15:00Z");
    BOOST_TEST(clear, "slot " << s["start"].GetString() << " overlaps the booked session");
  }
  auto has = [&](const std::string& t) {
    return std::find(starts.begin(), starts.end(), t) != starts.end();
  };
  BOOST_TEST(has("2026-02-02T07:00:00.000Z"));  // 09:00 local, the first window minute
  BOOST_TEST(has("2026-02-02T12:00:00.000Z"));  // the cancelled session does not block
  BOOST_TEST(has("2026-02-02T14:00:00.000Z"));  // 16:00-17:00 local, the last slot
  BOOST_TEST(!has("2026-02-02T14:30:00.000Z"));
  BOOST_TEST(!has("2026-02-02T09:00:00.000Z"));

  // No availability: a counsellor with no slots. Unknown or not a counsellor: nothing.
  auto none =
      projections::counselor_slots(f.conn(), f.counselor_b.value().str(), from, to, 60min, now);
  BOOST_REQUIRE(none);
  BOOST_TEST(parse(*none)["slots"].Empty());
  BOOST_TEST(!projections::counselor_slots(f.conn(), f.client.value().str(), from, to, 60min, now));
  BOOST_TEST(!projections::counselor_slots(f.conn(), "nope", from, to, 60min, now));
}

BOOST_DATA_TEST_CASE(sessions_of_a_user_as_client_or_counselor, data::make(log_engines()), engine) {
  Fixture f(engine);
  auto mine =
      parse(projections::list_sessions_for_user(f.conn(), f.client.value().str(), sessions("")));
  BOOST_TEST(mine["total"].GetInt() == 3);
  const auto& results = mine["results"];
  BOOST_REQUIRE_EQUAL(results.Size(), 3u);
  // Ordered by start.
  BOOST_TEST(results[0]["id"].GetString() == f.with_c.value().str());
  BOOST_TEST(results[0]["start"].GetString() == std::string("2026-02-01T08:00:00.000Z"));
  BOOST_TEST(results[0]["end"].GetString() == std::string("2026-02-01T08:45:00.000Z"));
  BOOST_TEST(results[0]["duration_minutes"].GetInt() == 45);
  BOOST_TEST(results[1]["id"].GetString() == f.booked.value().str());
  BOOST_TEST(results[1]["status"].GetString() == std::string("requested"));
  BOOST_TEST(results[1]["topic"].GetString() == std::string("work stress"));
  BOOST_TEST(results[1]["mode"].GetString() == std::string("chat"));
  BOOST_TEST(results[1]["cancelled_by"].IsNull());
  BOOST_TEST(results[1]["created_at"].GetString() == std::string("2026-01-10T10:00:00.000Z"));
  BOOST_TEST(results[2]["status"].GetString() == std::string("cancelled"));
  BOOST_TEST(results[2]["cancellation_reason"].GetString() == std::string("clash"));
  BOOST_TEST(!results[2]["late_cancellation"].GetBool());
  BOOST_TEST(results[2]["cancelled_by"].GetString() == f.client.value().str());

  auto cancelled = parse(
      projections::list_sessions_for_user(f.conn(), f.client.value().str(), sessions("cancelled")));
  BOOST_TEST(cancelled["total"].GetInt() == 1);
  auto window = parse(projections::list_sessions_for_user(
      f.conn(), f.client.value().str(),
      sessions("", parse_rfc3339("2026-02-02T00:00:00Z"), parse_rfc3339("2026-02-02T12:00:00Z"))));
  BOOST_TEST(window["total"].GetInt() == 1);
  BOOST_TEST(window["results"][0]["id"].GetString() == f.booked.value().str());
  auto paged = parse(projections::list_sessions_for_user(f.conn(), f.client.value().str(),
                                                         sessions("", {}, {}, 2, 2)));
  BOOST_TEST(paged["results"].Size() == 1u);
  BOOST_TEST(paged["total_pages"].GetInt() == 2);
  BOOST_TEST(paged["has_previous"].GetBool());

  auto as_counselor = parse(
      projections::list_sessions_for_user(f.conn(), f.counselor_c.value().str(), sessions("")));
  BOOST_TEST(as_counselor["total"].GetInt() == 2);
  auto stranger = parse(
      projections::list_sessions_for_user(f.conn(), f.counselor_b.value().str(), sessions("")));
  BOOST_TEST(stranger["total"].GetInt() == 0);

  auto one = projections::get_session(f.conn(), f.booked.value().str());
  BOOST_REQUIRE(one);
  BOOST_TEST(one->client_id == f.client.value().str());
  BOOST_TEST(one->counselor_id == f.counselor_a.value().str());
  BOOST_TEST(one->status == "requested");
  BOOST_TEST(parse(one->json)["id"].GetString() == f.booked.value().str());
  BOOST_TEST(!projections::get_session(f.conn(), new_uuid_v7().str()));
}

BOOST_DATA_TEST_CASE(users_credentials_and_lag, data::make(log_engines()), engine) {
  Fixture f(engine);
  const auto id = f.client.value().str();
  auto user = projections::find_user_by_id(f.conn(), id);
  BOOST_REQUIRE(user);
  auto doc = parse(*user);
  BOOST_TEST(doc["email"].GetString() == id + "@example.org");
  BOOST_TEST(doc["role"].GetString() == std::string("client"));
  BOOST_TEST(doc["display_name"].GetString() == std::string("Sipho Dlamini"));
  BOOST_TEST(doc["status"].GetString() == std::string("active"));
  BOOST_TEST(doc["created_at"].GetString() == std::string("2026-01-10T10:00:00.000Z"));
  auto pub = parse(*projections::find_public_user(f.conn(), id));
  BOOST_TEST(!pub.HasMember("email"));

  auto creds = projections::find_credentials_by_email_hash(f.conn(), "hash-" + id);
  BOOST_REQUIRE(creds);
  BOOST_TEST(creds->user_id == id);
  BOOST_TEST(creds->role == "client");
  BOOST_TEST(creds->password_hash == "$argon2id$fake-" + id);
  BOOST_TEST(creds->status == "active");
  BOOST_TEST(!projections::find_credentials_by_email_hash(f.conn(), "hash-nobody"));

  std::vector<log::Position> ends;
  int64_t total = 0;
  for (int p = 0; p < 4; ++p) {
    auto end = *f.log->end_offset(log::Topic::events, log::PartitionId{p});
    total += end.value();
    ends.push_back({log::PartitionId{p}, end});
  }
  for (const auto& [name, lag] : projections::projection_lag(f.conn(), ends)) {
    BOOST_TEST(lag == 0, name);
  }
  ends[0].offset = log::Offset{ends[0].offset.value() + 5};
  BOOST_TEST(projections::projection_lag(f.conn(), ends).at("sessions") == 5);
  BOOST_TEST(total > 0);
}

BOOST_AUTO_TEST_SUITE_END()
