#pragma once
// Turns each planned action into the command the api would have appended for the same request
// at that moment: the same type, stream, actor and data (member order included), personal
// fields sealed with the subject's key, ids as UUIDv7 of that moment. The mirrored api code is
// named at each builder.
#include <cstdint>
#include <string>

#include "commands/command.hpp"
#include "tests/bench/seed/history_plan.hpp"
#include "tests/bench/seed/population.hpp"

namespace counsel::bench {

// The phone number on a client's patient record: unique per client, as the claims require.
std::string patient_phone(uint32_t client);

class CommandFactory {
 public:
  // `password_hash` is the one argon2id hash of kPassword that every account carries.
  CommandFactory(const Population& people, const HistoryPlan& plan, std::string password_hash,
                 uint64_t seed);

  commands::Command make(const Action& action);

 private:
  commands::Command command(Timestamp at, Actor actor, std::string type, std::string stream);
  Actor counselor_actor(uint32_t c) const;
  Actor client_actor(uint32_t k) const;

  commands::Command registration(Timestamp at, const UserId& id, const std::string& email,
                                 const std::string& display_name,
                                 const crypto::SubjectKey& subject_key, Role role);
  commands::Command client_profile(Timestamp at, uint32_t client);
  commands::Command login(Timestamp at, const Action& action);
  commands::Command session_request(Timestamp at, uint32_t session);
  commands::Command session_change(Timestamp at, const Action& action);
  commands::Command review(Timestamp at, const Action& action);
  commands::Command room_open(Timestamp at, uint32_t room);
  commands::Command message(Timestamp at, uint32_t message);
  commands::Command read_marker(Timestamp at, const Action& action);
  commands::Command patient_create(Timestamp at, uint32_t patient);
  commands::Command patient_action(Timestamp at, const Action& action);

  const Population& people_;
  const HistoryPlan& plan_;
  const std::string password_hash_;
  SeedRandom random_;
};

}  // namespace counsel::bench
