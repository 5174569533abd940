#pragma once
// The compliance officers' search over read.audit_events (GET /api/v1/audit).
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "domain/time.hpp"

namespace counsel::projections {

struct AuditFilter {
  std::string actor;              // a user id, or "" for any
  std::string subject;            // a user the event concerns, or ""
  std::string type;               // an event type; "session.*" matches a prefix; "" for any
  std::optional<Timestamp> from;  // inclusive
  std::optional<Timestamp> to;    // exclusive
  int page = 1;
  int per_page = 50;
};

// {results:[{event_id, type, stream, sequence, partition, occurred_at, actor:{id, role},
// subjects:[...]}], total, page, per_page, total_pages, has_next, has_previous}, oldest first.
std::string search_audit_events(pqxx::connection& conn, const AuditFilter& filter);

}  // namespace counsel::projections
