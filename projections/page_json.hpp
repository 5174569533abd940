#pragma once
// The members every paged list response ends with, so the lists agree on them.
#include <cstdint>

#include "domain/json.hpp"

namespace counsel::projections {

// total, page, per_page, total_pages, has_next, has_previous (into an open object).
inline void write_page_members(json::Writer& w, int64_t total, int page, int per_page) {
  const int64_t total_pages = (total + per_page - 1) / per_page;
  json::key(w, "total");
  w.Int64(total);
  json::key(w, "page");
  w.Int(page);
  json::key(w, "per_page");
  w.Int(per_page);
  json::key(w, "total_pages");
  w.Int64(total_pages);
  json::key(w, "has_next");
  w.Bool(page < total_pages);
  json::key(w, "has_previous");
  w.Bool(page > 1);
}

}  // namespace counsel::projections
