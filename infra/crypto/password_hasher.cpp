#include "infra/crypto/password_hasher.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

#include "infra/crypto/sodium_init.hpp"

namespace counsel::crypto {

PasswordHashCost PasswordHashCost::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordHashCost PasswordHashCost::minimum() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

PasswordHasher::PasswordHasher(PasswordHashCost cost) : cost_(cost) {
  ensure_sodium();
}

PasswordHasher PasswordHasher::fast_for_tests() {
  return PasswordHasher(PasswordHashCost::minimum());
}

std::string PasswordHasher::hash(std::string_view password) const {
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), cost_.ops_limit,
                            cost_.mem_limit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("password hashing failed (out of memory)");
  }
  return std::string(out.data());
}

bool PasswordHasher::verify(std::string_view stored_hash, std::string_view password) const {
  // The hash must be a NUL-terminated string that fits libsodium's buffer.
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string terminated(stored_hash);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view stored_hash) const {
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return true;
  const std::string terminated(stored_hash);
  if (!terminated.starts_with(crypto_pwhash_argon2id_STRPREFIX)) return true;
  return crypto_pwhash_str_needs_rehash(terminated.c_str(), cost_.ops_limit, cost_.mem_limit) != 0;
}

void PasswordHasher::burn_time(std::string_view password) const {
  // Hashing costs what verifying costs (same parameters); the result is thrown away.
  (void)hash(password);
}

}  // namespace counsel::crypto
