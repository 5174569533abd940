#pragma once
// Fresh identifiers: UUIDv7 from the system clock and libsodium's CSPRNG.
#include "domain/ids.hpp"
#include "domain/uuid.hpp"

namespace counsel {

Timestamp now_utc();
Uuid new_uuid_v7();
// Hex string of n random bytes (tokens, secrets).
std::string random_hex(size_t bytes);

}  // namespace counsel
