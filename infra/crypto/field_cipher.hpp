#pragma once
// Field-level encryption per data subject (POPIA): each subject's personal fields in events are
// sealed with that subject's own key (XChaCha20-Poly1305, the subject id as associated data).
// Erasing the key (SubjectKeyring::erase) makes every such field unreadable forever while the
// events themselves, and the hash chain over their ciphertext, stay intact (crypto-shredding).
//
// Wire form of a sealed field: "enc:v1:" + base64(nonce || ciphertext+tag), standard alphabet.
#include <pqxx/connection>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/uuid.hpp"

namespace counsel::pg {
class PgPool;
}

namespace counsel::crypto {

inline constexpr std::string_view kEncryptedPrefix = "enc:v1:";

// 256-bit key material, wiped from memory when the object dies.
class SubjectKey {
 public:
  static constexpr size_t kSize = 32;

  SubjectKey() = default;  // all zero: a placeholder, never used to encrypt
  static SubjectKey generate();
  // nullopt unless exactly kSize bytes.
  static std::optional<SubjectKey> from_bytes(std::string_view bytes);

  SubjectKey(const SubjectKey& other) = default;
  SubjectKey& operator=(const SubjectKey& other) = default;
  ~SubjectKey();

  const unsigned char* data() const { return bytes_.data(); }
  friend bool operator==(const SubjectKey&, const SubjectKey&);

 private:
  std::array<unsigned char, kSize> bytes_{};
};

std::string encrypt_field(const SubjectKey& key, std::string_view plaintext,
                          std::string_view associated_subject);
// nullopt when `value` is not a sealed field, was sealed with another key or for another
// subject, or has been altered.
std::optional<std::string> decrypt_field(const SubjectKey& key, std::string_view value,
                                         std::string_view associated_subject);
bool is_encrypted(std::string_view value);

// Hex SHA-256 of the trimmed, ASCII-lower-cased email: looks an account up
// (identity.email_claims, read models) without decrypting anything.
std::string email_hash(std::string_view email);

// Subject keys in PostgreSQL (identity.subject_keys), with a bounded LRU cache in front.
// Thread-safe.
//
// The cache is per process: after erase() in one process, another process may keep using a
// cached copy until it is evicted or that process restarts. Erasure is therefore expected to run
// where it can also tell the other processes (a later issue); within one process it is exact.
class SubjectKeyring {
 public:
  using ConnectionUser = std::function<void(pqxx::connection&)>;
  // Lends a connection to the callback for its duration (e.g. a pool lease).
  using WithConnection = std::function<void(const ConnectionUser&)>;

  static constexpr size_t kDefaultCacheCapacity = 100'000;

  explicit SubjectKeyring(WithConnection with_connection,
                          size_t cache_capacity = kDefaultCacheCapacity);
  // Borrows connections from `pool` (which must outlive the keyring).
  explicit SubjectKeyring(pg::PgPool& pool, size_t cache_capacity = kDefaultCacheCapacity,
                          std::chrono::milliseconds acquire_timeout = std::chrono::seconds(5));
  ~SubjectKeyring();
  SubjectKeyring(const SubjectKeyring&) = delete;
  SubjectKeyring& operator=(const SubjectKeyring&) = delete;

  // The subject's key, creating it on first use. Concurrent creators (threads or processes)
  // all end up with the single stored key. Database errors propagate as exceptions.
  SubjectKey get_or_create(const Uuid& subject);
  // nullopt when the subject has no key (never had one, or it was erased).
  std::optional<SubjectKey> find(const Uuid& subject);
  // Crypto-shredding: deletes the stored key and drops the cached copy.
  void erase(const Uuid& subject);

  size_t cached_count() const;

 private:
  std::optional<SubjectKey> cached(const Uuid& subject);
  uint64_t erase_epoch() const;
  // Caches `key` unless an erase() finished since `epoch_before_read` (the key may be gone).
  void remember(const Uuid& subject, const SubjectKey& key, uint64_t epoch_before_read);

  WithConnection with_connection_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<Uuid, SubjectKey>> lru_;  // most recently used first
  std::unordered_map<Uuid, std::list<std::pair<Uuid, SubjectKey>>::iterator> index_;
  uint64_t erase_epoch_ = 0;
};

}  // namespace counsel::crypto
