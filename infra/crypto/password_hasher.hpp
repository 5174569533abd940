#pragma once
// Password hashing with argon2id (libsodium crypto_pwhash_str): the stored string embeds the
// algorithm, salt and cost, so verify() and needs_rehash() need nothing else.
#include <cstddef>
#include <string>
#include <string_view>

namespace counsel::crypto {

struct PasswordHashCost {
  unsigned long long ops_limit;
  size_t mem_limit;  // bytes

  static PasswordHashCost interactive();  // libsodium's INTERACTIVE limits (the default)
  static PasswordHashCost minimum();      // libsodium's MIN limits: for tests only
};

class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordHashCost cost = PasswordHashCost::interactive());
  // Minimum cost: fast enough for unit and end-to-end tests, far too weak for production.
  static PasswordHasher fast_for_tests();

  // Throws std::runtime_error if hashing fails (out of memory): the request cannot go on.
  std::string hash(std::string_view password) const;
  // Constant-time check; false for a wrong password or a malformed hash.
  bool verify(std::string_view stored_hash, std::string_view password) const;
  // True when `stored_hash` was made with other parameters than this hasher's (or is not an
  // argon2id hash at all): re-hash on the next successful login.
  bool needs_rehash(std::string_view stored_hash) const;
  // Spends about the time of a verify(), for unknown accounts, so response times do not reveal
  // which emails are registered.
  void burn_time(std::string_view password) const;

  const PasswordHashCost& cost() const { return cost_; }

 private:
  PasswordHashCost cost_;
};

}  // namespace counsel::crypto
