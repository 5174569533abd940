#include "infra/crypto/sodium_init.hpp"

#include <sodium.h>

#include <stdexcept>

namespace counsel::crypto {

void ensure_sodium() {
  // A function-local static is initialized once even under concurrent first calls.
  static const bool initialized = [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
    return true;
  }();
  (void)initialized;
}

}  // namespace counsel::crypto
