#pragma once
// SHA-256 through libcrypto, which uses the CPU's SHA extensions where it has them. The domain
// hashes events with libsodium, whose portable SHA-256 is about four times slower on our
// machines: fine for sealing one event at a time, but it bounded `counsel audit verify`, which
// hashes the whole log. Both compute the same function (tests/unit/sha256_test.cpp).
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

struct evp_md_st;
struct evp_md_ctx_st;

namespace counsel::crypto {

// Reuses one digest context: not thread-safe, one per thread.
class Sha256 {
 public:
  static constexpr size_t kDigestBytes = 32;

  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Lower-case hex of the digest of the pieces one after another (as sha256_hex writes it).
  // The view stays valid until the next call.
  std::string_view hex(std::initializer_list<std::string_view> pieces);

 private:
  evp_md_st* md_;
  evp_md_ctx_st* context_;
  std::array<char, 2 * kDigestBytes> hex_{};
};

}  // namespace counsel::crypto
