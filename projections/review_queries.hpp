#pragma once
// Reads of read.reviews for the api. A review's author is a client in therapy: who wrote it is
// shown to admins only, never to other users (the counsellor reviewed included).
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "projections/read_queries.hpp"

namespace counsel::projections {

struct ReviewListQuery {
  std::string counselor_id;
  int page = 1;  // >= 1; per_page 1..kMaxPerPage (clamped)
  int per_page = kDefaultPerPage;
  bool show_reviewer = false;  // adds client_id and session_id (admins)
};

// Newest first: {results: [{id, rating, comment, created_at} (+ client_id, session_id)], count,
// total, page, per_page, total_pages, has_next, has_previous}; `count` equals `total` (the name
// the seeds' clients read). comment is null once the client is erased.
std::string list_reviews(pqxx::connection& conn, const ReviewListQuery& query);

// {id, counselor_id, session_id, rating, comment, created_at}: the review of `session_id`, as
// its author sees it; nullopt if the session has none (or the id is malformed).
std::optional<std::string> find_review_of_session(pqxx::connection& conn,
                                                  const std::string& session_id);

}  // namespace counsel::projections
