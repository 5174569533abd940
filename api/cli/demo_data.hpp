#pragma once
// `counsel seed-demo`: loads demo counsellors (profiles, availability) and clients through
// the same API routes a frontend uses, dispatched in-process, so demo data is ordinary events.
#include <ostream>

#include "api/router.hpp"

namespace counsel::api {

// Returns false if the demo data was already there (nothing changed).
bool seed_demo_data(const Router& router, std::ostream& out);

}  // namespace counsel::api
