#pragma once
// `counsel seed-demo`: loads demo counsellors (profiles, availability) and clients through
// the same API routes a frontend uses, dispatched in-process, so demo data is ordinary events.
#include <ostream>

#include "api/app_context.hpp"
#include "api/router.hpp"

namespace counsel::api {

// Returns false if the demo data was already there. Either way the demo counsellors end up
// verified (commands as the system, the way an admin's decision would be recorded).
bool seed_demo_data(const Router& router, AppContext& app, std::ostream& out);

}  // namespace counsel::api
