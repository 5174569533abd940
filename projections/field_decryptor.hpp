#pragma once
// What the projectors need from the crypto layer: turn an event's encrypted field back into
// text for the read models. Kept as a small port so projections do not depend on how keys
// are stored (infra/crypto implements it; tests use a fake).
#include <pqxx/transaction>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

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
  // The subject was erased (account.erased): shred their key as part of `tx`, so the erasure
  // and the scrubbed read models commit together, and never decrypt for them again.
  virtual void shred(pqxx::work& tx, const Uuid& subject) = 0;
  // A hint that fields of these subjects are about to be decrypted on this thread (a batch's
  // worth), so their keys can be fetched together, when one is first needed, rather than one
  // round trip each. Some may be no subject. Replaces this thread's earlier hint.
  virtual void prefetch(const std::vector<Uuid>& /*subjects*/) {}
};

// For tests and tools that only see clear text: encrypted values read as erased, and so does
// everything of a subject once shredded (as with a real key, for later rebuilds too).
class ClearTextDecryptor final : public FieldDecryptor {
 public:
  std::optional<std::string> decrypt(const Uuid& subject, std::string_view value) override {
    if (is_encrypted_field(value)) return std::nullopt;
    {
      std::lock_guard lock(mutex_);
      if (shredded_.contains(subject)) return std::nullopt;
    }
    return std::string(value);
  }
  void shred(pqxx::work&, const Uuid& subject) override {
    std::lock_guard lock(mutex_);
    shredded_.insert(subject);
  }

 private:
  std::mutex mutex_;
  std::unordered_set<Uuid> shredded_;
};

}  // namespace counsel::projections
