#pragma once
// The people of the data set: counsellors (with the profile and availability bodies they would
// PUT) and clients (some with a client profile, some anonymous behind an alias), each with a
// subject key and the moments of their sign-up, all drawn from the seed.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "domain/counselor_calendar.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "tests/bench/seed/seed_random.hpp"

namespace counsel::bench {

inline constexpr const char* kTimeZone = "Africa/Johannesburg";
inline constexpr const char* kPassword = "bench-password-1";

// When things may happen: the history runs for a year up to the moment the loader started;
// nothing is scheduled from `cutoff` (the first bookable date's local midnight) on.
struct Timeline {
  Timestamp history_start;
  Timestamp now;
  Timestamp cutoff;
  std::chrono::year_month_day bookable_from;
};
Timeline make_timeline(Timestamp now, std::chrono::year_month_day bookable_from);

struct SeedCounselor {
  UserId id;
  std::string email;
  std::string display_name;
  crypto::SubjectKey key;
  std::string profile_body;       // PUT /api/v1/counselors/{id}/profile
  std::string availability_body;  // PUT /api/v1/counselors/{id}/availability
  calendar::Availability availability;
  int session_minutes = 50;  // what their clients book; with the buffer it fits an hour
  double popularity = 1;
  Timestamp registered_at{};
  Timestamp profile_at{};
  Timestamp availability_at{};
  Timestamp verified_at{};  // bookable from here on
};

// PUT /api/v1/clients/{id} in clear text; "" = not given.
struct ClientProfile {
  std::string picture_url;
  std::string bio;
  std::string address;
  std::string preferences;  // a JSON object's text
  std::string preferred_language;
  bool anonymous = false;
  std::string alias;
};

struct SeedClient {
  UserId id;
  std::string email;
  std::string display_name;
  crypto::SubjectKey key;
  Timestamp registered_at{};
  std::optional<Timestamp> profile_at;  // when they filled in their client profile, if ever
  ClientProfile profile;
  double activity = 1;  // how often they book, relative to others
};

struct Population {
  std::vector<SeedCounselor> counselors;
  std::vector<SeedClient> clients;
};

Population make_population(int counselors, int clients, const Timeline& timeline,
                           SeedRandom& random);

}  // namespace counsel::bench
