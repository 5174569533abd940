#include "tests/bench/seed/population.hpp"

#include <date/tz.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <set>
#include <stdexcept>

#include "domain/json.hpp"

namespace counsel::bench {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

const std::vector<std::string> kFirstNames = {
    "Thandi", "Sipho",   "Anele",      "Lerato",    "Pieter",   "Marike",   "Nomsa",     "Bongani",
    "Zanele", "Themba",  "Ayanda",     "Lindiwe",   "Mandla",   "Palesa",   "Kagiso",    "Naledi",
    "Tshepo", "Refilwe", "Sibusiso",   "Nokuthula", "Jabu",     "Busisiwe", "Karabo",    "Mpho",
    "Thabo",  "Dineo",   "Lwazi",      "Nandi",     "Johan",    "Annelie",  "Riaan",     "Chantal",
    "Fatima", "Yusuf",   "Priya",      "Rajesh",    "Megan",    "Liam",     "Aisha",     "Kyle",
    "Zodwa",  "Vusi",    "Khanyisile", "Siyabonga", "Precious", "Tumelo",   "Keabetswe", "Lebo"};
const std::vector<std::string> kLastNames = {
    "Mokoena",  "Ndlovu",   "Dlamini",   "Khumalo",   "Botha",      "van Wyk",  "Nkosi",
    "Mahlangu", "Zulu",     "Mthembu",   "Sithole",   "Ngcobo",     "Naidoo",   "Pillay",
    "Govender", "Smith",    "Molefe",    "Mabaso",    "Shabalala",  "Radebe",   "Maseko",
    "Mkhize",   "Cele",     "Buthelezi", "Pretorius", "du Plessis", "Fourie",   "Jacobs",
    "Adams",    "Petersen", "Williams",  "Hendricks", "Tshabalala", "Mofokeng", "Sibiya",
    "Baloyi",   "Chauke",   "Maluleke",  "Mashaba",   "Nel"};
const std::vector<std::string> kCities = {
    "Johannesburg", "Durban",       "Cape Town", "Pretoria", "Soweto",      "Pietermaritzburg",
    "Gqeberha",     "Bloemfontein", "Polokwane", "Mbombela", "East London", "Rustenburg"};

// The specialties the demo counsellors use, and a few more a South African practice lists.
const std::vector<std::string> kSpecialties = {
    "depression",      "grief",         "trauma",
    "substance_use",   "relationships", "family",
    "stress",          "burnout",       "adolescents",
    "self_esteem",     "ptsd",          "eating_disorders",
    "parenting",       "career",        "anger_management",
    "sleep",           "ocd",           "lgbtq",
    "chronic_illness", "couples"};
const std::vector<double> kSpecialtyWeights = {14, 8, 9, 5, 8, 6, 9, 5, 5, 6,
                                               4,  2, 4, 3, 2, 3, 2, 2, 2, 4};
// Chosen on its own, so that about one counsellor in six lists it.
constexpr double kAnxietyShare = 0.16;

// Official languages (ISO 639 codes) besides English and isiZulu, weighted by how many speak
// them at home.
const std::vector<std::string> kLanguages = {"xh", "af", "nso", "tn", "st", "ts", "ss", "ve", "nr"};
const std::vector<double> kLanguageWeights = {16, 12, 9, 8, 8, 4, 2.5, 2.5, 1.5};
// isiZulu, the most spoken, is chosen on its own: with anxiety it gives about 3.5% of all
// counsellors (a few hundred of 10,000) for the benchmark's search.
constexpr double kZuluShare = 0.22;

const std::vector<std::string> kLevels = {"intern", "registered", "senior", "specialist"};
const std::vector<double> kLevelWeights = {15, 45, 30, 10};

struct WeeklyTemplate {
  const char* days;  // "mon,tue,..."
  std::vector<std::pair<const char*, const char*>> windows;
};
// Working weeks counsellors publish (local time). Every one of them contains some of the
// benchmark slot times (07:00 and every 90 minutes after it).
const std::vector<WeeklyTemplate> kWeeklyTemplates = {
    {"mon,tue,wed,thu,fri", {{"08:00", "17:00"}}},
    {"mon,tue,wed,thu,fri", {{"08:00", "12:00"}, {"13:00", "17:00"}}},
    {"mon,tue,wed,thu", {{"12:00", "20:00"}}},
    {"tue,wed,thu,fri,sat", {{"08:00", "16:00"}}},
    {"mon,wed,fri", {{"07:00", "15:00"}}},
    {"mon,tue,wed,thu,fri", {{"07:00", "19:00"}}},
};
const std::vector<double> kTemplateWeights = {30, 15, 12, 12, 11, 20};
// Counsellors on the evening template also see clients on Saturday mornings.
constexpr const char* kSaturdayMorning[2] = {"09:00", "13:00"};

const std::vector<int> kBuffers = {0, 5, 10, 15};
const std::vector<double> kBufferWeights = {20, 20, 45, 15};
// At most four hours, so that every benchmark slot stays bookable on the day the data is made.
const std::vector<int> kMinNotices = {60, 120, 180, 240};

const std::vector<std::string> kClientBios = {
    "Student trying to manage exam stress.",     "Working parent looking for someone to talk to.",
    "New to Johannesburg and feeling isolated.", "Recovering from a difficult year.",
    "Looking for support with my relationship.", "Nurse working night shifts.",
};
const std::vector<std::string> kAddresses = {
    "12 Vilakazi St, Orlando West, Soweto",    "45 Florida Rd, Morningside, Durban",
    "8 Long St, Cape Town City Centre",        "221 Church St, Pretoria Central",
    "3 Jan Smuts Ave, Rosebank, Johannesburg", "17 Main Rd, Observatory, Cape Town",
};
const std::vector<std::string> kPreferences = {
    R"({"reminders":"sms","session_mode":"video"})",
    R"({"reminders":"email","session_mode":"chat"})",
    R"({"reminders":"none","session_mode":"in_person"})",
    R"({"reminders":"sms","session_mode":"chat","contact_hours":"evenings"})",
};
const std::vector<std::string> kPreferredLanguages = {"zu", "en-ZA", "xh", "af", "st", "tn", "nso"};
const std::vector<std::string> kAliasWords = {"Quiet", "Blue",  "Morning", "River", "Heron",
                                              "Cedar", "Amber", "Silver",  "Lark",  "Sunbird"};

double lognormal(SeedRandom& random, double sigma) {
  // Box-Muller: heavy-tailed weights (a few very popular counsellors, a few very active clients).
  const double u1 = std::max(random.unit(), 1e-12), u2 = random.unit();
  return std::exp(sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2));
}

std::string person_name(SeedRandom& random) {
  return random.pick(kFirstNames) + " " + random.pick(kLastNames);
}

std::string numbered_email(const char* role, size_t index, int width) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s.%0*zu@bench.counsel", role, width, index + 1);
  return buf;
}

// `count` distinct picks from `values` by weight.
std::vector<std::string> distinct_picks(SeedRandom& random, const std::vector<std::string>& values,
                                        const std::vector<double>& weights, size_t count) {
  WeightedPicker picker(weights);
  std::vector<std::string> out;
  while (out.size() < count && out.size() < values.size()) {
    const auto& v = values[picker.pick(random)];
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

void write_strings(json::Writer& w, const std::vector<std::string>& values) {
  w.StartArray();
  for (auto& v : values) json::write_string(w, v);
  w.EndArray();
}

std::string profile_body(SeedRandom& random) {
  std::vector<std::string> specialties;
  if (random.chance(kAnxietyShare)) specialties.push_back("anxiety");
  const size_t wanted = static_cast<size_t>(random.between(2, 4));
  for (auto& s : distinct_picks(random, kSpecialties, kSpecialtyWeights, wanted))
    if (specialties.size() < wanted) specialties.push_back(s);

  std::vector<std::string> languages;
  if (random.chance(0.92)) languages.push_back("en");
  if (random.chance(kZuluShare)) languages.push_back("zu");
  const size_t others = static_cast<size_t>(random.between(languages.empty() ? 1 : 0, 2));
  for (auto& l : distinct_picks(random, kLanguages, kLanguageWeights, others))
    languages.push_back(l);

  const std::string& level = kLevels[WeightedPicker(kLevelWeights).pick(random)];
  const std::string bio = "Counsellor in " + random.pick(kCities) + " working with " +
                          specialties.front() + " and " + specialties.back() + ".";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "specialties");
  write_strings(w, specialties);
  json::key(w, "languages");
  write_strings(w, languages);
  json::key(w, "level");
  json::write_string(w, level);
  json::key(w, "bio");
  json::write_string(w, bio);
  if (level != "intern") {
    char credentials[96];
    std::snprintf(credentials, sizeof credentials, "HPCSA PS %07d; MA Psychology",
                  static_cast<int>(random.between(1, 9'999'999)));
    json::key(w, "credentials");
    json::write_string(w, credentials);
  }
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

// South Africa's fixed-date public holidays (a Sunday one moves to the Monday) in [from, to].
std::set<std::chrono::year_month_day> public_holidays(std::chrono::year_month_day from,
                                                      std::chrono::year_month_day to) {
  using namespace std::chrono;
  static constexpr std::pair<unsigned, unsigned> kFixed[] = {
      {1, 1}, {3, 21}, {4, 27}, {5, 1}, {6, 16}, {8, 9}, {9, 24}, {12, 16}, {12, 25}, {12, 26}};
  std::set<year_month_day> out;
  for (int y = static_cast<int>(from.year()); y <= static_cast<int>(to.year()); ++y) {
    for (auto [m, d] : kFixed) {
      year_month_day date{year{y}, month{m}, day{d}};
      if (weekday{sys_days{date}} == Sunday) date = year_month_day{sys_days{date} + days{1}};
      if (date >= from && date <= to) out.insert(date);
    }
  }
  return out;
}

std::chrono::year_month_day date_of(Timestamp t) {
  return std::chrono::year_month_day{std::chrono::floor<days>(t)};
}

struct AvailabilityChoice {
  std::string body;
  calendar::Availability parsed;
  int session_minutes;
};

AvailabilityChoice availability_body(SeedRandom& random, const Timeline& timeline,
                                     const std::set<std::chrono::year_month_day>& holidays) {
  const size_t template_index = WeightedPicker(kTemplateWeights).pick(random);
  const auto& weekly = kWeeklyTemplates[template_index];
  const int buffer = kBuffers[WeightedPicker(kBufferWeights).pick(random)];
  const int notice = random.pick(kMinNotices);

  // Holidays, and for some counsellors a few days of leave, through the year ahead.
  std::set<std::chrono::year_month_day> off = holidays;
  if (random.chance(0.4)) {
    const auto first = std::chrono::sys_days{date_of(timeline.history_start)} + days{30};
    const auto span = (std::chrono::sys_days{date_of(timeline.cutoff)} + days{180} - first).count();
    for (int64_t n = random.between(1, 8); n > 0; --n)
      off.insert(std::chrono::year_month_day{first + days{random.between(0, span)}});
  }

  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "time_zone");
  json::write_string(w, kTimeZone);
  json::key(w, "weekly");
  w.StartArray();
  std::string days_list = weekly.days;
  for (size_t start = 0; start < days_list.size();) {
    size_t comma = days_list.find(',', start);
    if (comma == std::string::npos) comma = days_list.size();
    const std::string day = days_list.substr(start, comma - start);
    for (auto [from, to] : weekly.windows) {
      w.StartObject();
      json::key(w, "day");
      json::write_string(w, day);
      json::key(w, "start");
      json::write_string(w, from);
      json::key(w, "end");
      json::write_string(w, to);
      w.EndObject();
    }
    start = comma + 1;
  }
  if (template_index == 2) {
    w.StartObject();
    json::key(w, "day");
    json::write_string(w, "sat");
    json::key(w, "start");
    json::write_string(w, kSaturdayMorning[0]);
    json::key(w, "end");
    json::write_string(w, kSaturdayMorning[1]);
    w.EndObject();
  }
  w.EndArray();
  json::key(w, "buffer_minutes");
  w.Int(buffer);
  json::key(w, "min_notice_minutes");
  w.Int(notice);
  json::key(w, "overrides");
  w.StartArray();
  for (const auto& date : off) {
    w.StartObject();
    json::key(w, "date");
    json::write_string(w, format_date(date));
    json::key(w, "unavailable");
    w.Bool(true);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();

  AvailabilityChoice out;
  out.body.assign(sb.GetString(), sb.GetSize());
  auto doc = json::parse(out.body);
  if (!doc) throw std::logic_error("generated availability is not JSON: " + out.body);
  auto parsed = calendar::parse_availability(*doc);
  if (!parsed) throw std::logic_error("generated availability is invalid: " + out.body);
  out.parsed = std::move(*parsed);
  // Sessions start on the hour: length plus buffer must fit in it.
  out.session_minutes = buffer <= 10 ? 50 : 45;
  return out;
}

ClientProfile client_profile(SeedRandom& random, size_t index, bool anonymous) {
  ClientProfile p;
  if (random.chance(0.3))
    p.picture_url = "https://images.bench.counsel/avatars/" + std::to_string(index + 1) + ".jpg";
  if (random.chance(0.4)) p.bio = random.pick(kClientBios);
  if (random.chance(0.3)) p.address = random.pick(kAddresses);
  if (random.chance(0.5)) p.preferences = random.pick(kPreferences);
  if (random.chance(0.7)) p.preferred_language = random.pick(kPreferredLanguages);
  p.anonymous = anonymous;
  if (anonymous)
    p.alias = random.pick(kAliasWords) + " " + random.pick(kAliasWords) + " " +
              std::to_string(random.between(1, 99));
  return p;
}

}  // namespace

Timeline make_timeline(Timestamp now, std::chrono::year_month_day bookable_from) {
  Timeline t;
  t.now = now;
  t.history_start = now - days{365};
  t.bookable_from = bookable_from;
  const date::zoned_time<minutes> midnight{
      kTimeZone, date::local_days{
                     date::days{std::chrono::sys_days{bookable_from}.time_since_epoch().count()}}};
  t.cutoff = std::chrono::time_point_cast<std::chrono::milliseconds>(midnight.get_sys_time());
  // The benchmark's clients book from the cutoff on: it must lie beyond any counsellor's
  // minimum notice (at most four hours) from now.
  if (t.cutoff < now + hours{6})
    throw std::invalid_argument("--bookable-from " + format_date(bookable_from) +
                                " is too soon: its local midnight must be at least 6 hours ahead");
  return t;
}

Population make_population(int counselor_count, int client_count, const Timeline& timeline,
                           SeedRandom& random) {
  Population out;
  const auto holidays =
      public_holidays(date_of(timeline.history_start), date_of(timeline.cutoff + days{366}));
  // Most counsellors were there from the start; some joined during the year, each at least
  // three weeks ago so that they are verified and bookable by now.
  const Timestamp founders_until = timeline.history_start + days{45};
  const Timestamp last_joiner = timeline.now - days{21};
  out.counselors.reserve(static_cast<size_t>(counselor_count));
  for (int i = 0; i < counselor_count; ++i) {
    SeedCounselor c;
    c.registered_at = random.chance(0.85) ? random.moment(timeline.history_start, founders_until)
                                          : random.moment(founders_until, last_joiner);
    c.id = UserId{random.uuid_v7_at(c.registered_at)};
    c.email = numbered_email("counselor", static_cast<size_t>(i), 5);
    c.display_name = person_name(random);
    c.key = crypto::SubjectKey::generate();
    c.profile_body = profile_body(random);
    auto availability = availability_body(random, timeline, holidays);
    c.availability_body = std::move(availability.body);
    c.availability = std::move(availability.parsed);
    c.session_minutes = availability.session_minutes;
    c.popularity = lognormal(random, 0.9);
    c.profile_at = c.registered_at + random.span(minutes{2}, hours{6});
    c.availability_at = c.profile_at + random.span(minutes{1}, hours{3});
    c.verified_at = c.availability_at + random.span(hours{1}, days{4});
    out.counselors.push_back(std::move(c));
  }

  // Sign-ups grow through the year (density rising linearly), the way a new service fills up.
  const auto history = timeline.now - hours{2} - timeline.history_start;
  constexpr double kProfileShare = 0.35, kAnonymousShare = 0.10;
  out.clients.reserve(static_cast<size_t>(client_count));
  for (int i = 0; i < client_count; ++i) {
    SeedClient k;
    const auto offset = std::chrono::milliseconds{
        static_cast<int64_t>(std::sqrt(random.unit()) * static_cast<double>(history.count()))};
    k.registered_at = timeline.history_start + offset;
    k.id = UserId{random.uuid_v7_at(k.registered_at)};
    k.email = numbered_email("client", static_cast<size_t>(i), 6);
    k.display_name = person_name(random);
    k.key = crypto::SubjectKey::generate();
    k.activity = lognormal(random, 1.1);
    if (random.chance(kProfileShare)) {
      k.profile_at = random.moment(k.registered_at + minutes{1},
                                   std::min(k.registered_at + days{14}, timeline.now - minutes{1}));
      k.profile = client_profile(random, static_cast<size_t>(i),
                                 random.chance(kAnonymousShare / kProfileShare));
    }
    out.clients.push_back(std::move(k));
  }
  return out;
}

}  // namespace counsel::bench
