#pragma once
// What the projectors need from the crypto layer: turn an event's encrypted field back into
// text for the read models. Kept as a small port so projections do not depend on how keys
// are stored (infra/crypto implements it; tests use a fake).
#include <optional>
#include <string>
#include <string_view>

#include "domain/uuid.hpp"

namespace counsel::projections {

inline constexpr std::string_view kEncryptedPrefix = "enc:v1:";

inline bool is_encrypted_field(std::string_view value) {
  return value.substr(0, kEncryptedPrefix.size()) == kEncryptedPrefix;
}

class FieldDecryptor {
 public:
  virtual ~FieldDecryptor() = default;
  // The clear text of `value`, encrypted with `subject`'s key. A value without the
  // "enc:v1:" prefix is returned as is (demo and legacy data). nullopt means the subject's
  // key is gone (crypto-shredded after erasure) or the value does not decrypt with it: the
  // read model stores NULL. Infrastructure failures (database down) throw.
  virtual std::optional<std::string> decrypt(const Uuid& subject, std::string_view value) = 0;
};

// For tests and tools that only see clear text: encrypted values read as erased.
class ClearTextDecryptor final : public FieldDecryptor {
 public:
  std::optional<std::string> decrypt(const Uuid&, std::string_view value) override {
    if (is_encrypted_field(value)) return std::nullopt;
    return std::string(value);
  }
};

}  // namespace counsel::projections
