#pragma once
// Read-your-writes: has every read model applied the events at these log positions? The api
// waits (bounded) on this when a request carries a Consistency-Token.
#include <pqxx/pqxx>

#include <chrono>
#include <vector>

#include "infra/log/log.hpp"
#include "infra/pg/connection_pool.hpp"

namespace counsel::projections {

// True when, for each position (partition, offset of an appended event), every projection's
// checkpoint for that partition is past the offset.
bool read_models_reached(pqxx::connection& conn, const std::vector<log::Position>& positions);

// Waits up to `timeout`, woken by the runner's NOTIFY on counsel_projection after each
// commit (with a short poll as a fallback). False on timeout.
bool wait_until_reached(pg::PgPool& pool, const std::vector<log::Position>& positions,
                        std::chrono::milliseconds timeout);

}  // namespace counsel::projections
