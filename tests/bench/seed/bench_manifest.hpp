#pragma once
// What the benchmark runner reads: the manifest (the shared password, every counsellor, the
// first clients, chat rooms to connect to, the data set's size) and the slots file, one free
// booking per line for POST /api/v1/sessions.
#include <cstdint>
#include <string>

#include "tests/bench/seed/history_plan.hpp"
#include "tests/bench/seed/population.hpp"

namespace counsel::bench {

// The clients listed in the manifest, who also make every booking of the slots file.
inline constexpr size_t kManifestClients = 5000;
inline constexpr size_t kManifestRooms = 100;
// Every line of the slots file is bookable for any duration up to this: lines of one
// counsellor (and of one client) start at least 90 minutes apart, and a counsellor's buffer is
// at most 15 minutes.
inline constexpr int kSlotMinutes = 60;

// `client_email \t counselor_id \t starts_at` lines: distinct free slots from the first
// bookable date on, inside each counsellor's availability and past their minimum notice now,
// on a 90-minute grid of local start times (07:00, 08:30, ... 19:00) so that no client is
// given two overlapping times. Spread evenly over the counsellors. Returns the lines written
// (fewer than asked only if a year of availability cannot hold them).
int64_t write_slots_file(const std::string& path, const Population& people,
                         const Timeline& timeline, int64_t wanted);

void write_manifest(const std::string& path, const Population& people, const HistoryPlan& plan,
                    const Timeline& timeline, int64_t events, const std::string& slots_path);

}  // namespace counsel::bench
