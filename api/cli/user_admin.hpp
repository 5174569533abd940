#pragma once
// `counsel users create-admin --email E`: the first admin, as Django's createsuperuser makes
// it. The password comes from stdin (prompted without echo on a terminal, one line otherwise).
#include <iosfwd>

#include "api/runtime.hpp"

namespace counsel::api {

// Creates the admin through the running system (its command processors): returns the exit
// status and prints what happened, including the next step (two-factor set-up).
int create_admin(Runtime& runtime, const Config& config, std::istream& in, bool terminal,
                 std::ostream& out, std::ostream& err);

}  // namespace counsel::api
