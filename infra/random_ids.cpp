#include "infra/random_ids.hpp"

#include <sodium.h>

#include <stdexcept>

namespace counsel {
namespace {
void init_sodium_once() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}
}  // namespace

Timestamp now_utc() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

Uuid new_uuid_v7() {
  init_sodium_once();
  std::array<uint8_t, 10> random{};
  randombytes_buf(random.data(), random.size());
  return uuid_v7(now_utc(), random);
}

std::string random_hex(size_t bytes) {
  init_sodium_once();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

}  // namespace counsel
