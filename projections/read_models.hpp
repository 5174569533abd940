#pragma once
// The concrete projections (one file each); all_projections() lists them.
#include <memory>

#include "projections/projection.hpp"

namespace counsel::projections {

std::unique_ptr<Projection> make_users_projection();
std::unique_ptr<Projection> make_counselors_projection();
std::unique_ptr<Projection> make_sessions_projection();
std::unique_ptr<Projection> make_patients_projection();
std::unique_ptr<Projection> make_chat_projection();
std::unique_ptr<Projection> make_notifications_projection();
std::unique_ptr<Projection> make_audit_projection();

// "<schema>"."<table>", quoted.
std::string qualified(pqxx::transaction_base& tx, const std::string& schema,
                      const std::string& table);

}  // namespace counsel::projections
