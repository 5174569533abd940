#pragma once
// Field-level encryption per data subject (POPIA): each subject's personal fields in events are
// sealed with that subject's own key (XChaCha20-Poly1305, the subject id as associated data).
// Erasing the key (SubjectKeyring::erase) makes every such field unreadable forever while the
// events themselves, and the hash chain over their ciphertext, stay intact (crypto-shredding).
//
// Wire form of a sealed field: "enc:v1:" + base64(nonce || ciphertext+tag), standard alphabet.
#include <pqxx/connection>
#include <pqxx/transaction>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/uuid.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"

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

// The subject's key was crypto-shredded: nothing may be sealed for them again. A request that
// needs it cannot go on (the api answers 410 subject_erased).
class SubjectErased : public std::runtime_error {
 public:
  explicit SubjectErased(const Uuid& subject)
      : std::runtime_error("the data subject " + subject.str() + " has been erased") {}
};

// NOTIFY channel on which an erasure is announced (payload: the subject id), so every process's
// keyring drops its cached copy (SubjectErasureFollower).
inline constexpr const char* kSubjectErasedChannel = "counsel_subject_erased";

// Crypto-shreds `subject` inside `tx`: the key is replaced by a tombstone (erased_at), and the
// commit announces it on kSubjectErasedChannel. Idempotent; the one place that erases a key.
void shred_subject_key(pqxx::work& tx, const Uuid& subject);

// Subject keys in PostgreSQL (identity.subject_keys), with a bounded LRU cache in front.
// Thread-safe.
//
// The cache is per process. An erasure committed elsewhere reaches this process through
// forget(), called by a SubjectErasureFollower within milliseconds of the commit; a key read
// in that window may still be used. Within one process, erase() and forget() are exact.
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
  // all end up with the single stored key. Throws SubjectErased for an erased subject;
  // database errors propagate as exceptions.
  SubjectKey get_or_create(const Uuid& subject);
  // nullopt when the subject has no key (never had one, or it was erased).
  std::optional<SubjectKey> find(const Uuid& subject);
  // Loads into the cache, in one query, the keys of those of `subjects` it does not hold: a
  // projector's batch about thousands of subjects would otherwise fetch them one round trip
  // each. Tombstones are remembered as erasures; no key is created. At most the cache's
  // capacity is loaded. Ids it found without a key are not asked for again by later prefetches.
  void prefetch(const std::vector<Uuid>& subjects);
  // Crypto-shredding: replaces the stored key by a tombstone (shred_subject_key), announces
  // it, and drops the cached copy.
  void erase(const Uuid& subject);
  // This process learns that `subject` was erased elsewhere: drops the cached copy and never
  // hands out a key for them again.
  void forget(const Uuid& subject);
  bool is_erased(const Uuid& subject) const;
  // Whether find() would answer without the database: the key is cached or the subject is
  // known to be erased.
  bool holds(const Uuid& subject) const;

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
  // Subjects known to be erased (erasures are rare: a set of ids is small).
  std::unordered_set<Uuid> erased_;
  // Ids a prefetch found without a key: a projector prefetches every id an event names, and
  // most (sessions, counsellors) never have one, so each batch asked again for them, on the
  // projector's critical path. Only prefetch() skips them; find() still asks, so a key created
  // later is found. Cleared when it reaches the cache's capacity.
  std::unordered_set<Uuid> keyless_;
};

// Follows kSubjectErasedChannel (on the process's pg::ListenHub) and tells the keyring. Each
// time the hub listens anew it also reloads all tombstones, so an announcement missed while
// disconnected is not lost.
class SubjectErasureFollower {
 public:
  SubjectErasureFollower(std::string conninfo, SubjectKeyring& keyring);
  ~SubjectErasureFollower();
  SubjectErasureFollower(const SubjectErasureFollower&) = delete;
  SubjectErasureFollower& operator=(const SubjectErasureFollower&) = delete;
  void start();
  void stop();

 private:
  void run();
  std::string conninfo_;
  SubjectKeyring& keyring_;
  std::atomic<bool> running_{false};
  // Set when the ListenHub listens anew: erasures announced meanwhile must be looked up.
  std::atomic<bool> reload_{false};
  pg::StopSignal wake_;  // raised on stop and with reload_
  std::unique_ptr<pg::ListenHub::Subscription> listening_;
  std::thread thread_;
};

}  // namespace counsel::crypto
