#pragma once
// What the api keeps outside the events log for the same accounts: one subject key per user
// (identity.subject_keys, as SubjectKeyring::get_or_create stores it), the email claims made
// before each registration and the patient-record claims. Written in bulk, before any event,
// so no projector ever meets an event whose key is missing.
#include <pqxx/connection>

#include "infra/log/log.hpp"
#include "tests/bench/seed/history_plan.hpp"
#include "tests/bench/seed/population.hpp"

namespace counsel::bench {

// Throws unless the events log has no events and no email has been claimed: the loader writes
// a whole data set or nothing.
void require_fresh(log::Log& log, pqxx::connection& connection);

void write_identity_rows(pqxx::connection& connection, const Population& people,
                         const HistoryPlan& plan);

}  // namespace counsel::bench
