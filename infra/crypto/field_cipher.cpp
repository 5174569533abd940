#include "infra/crypto/field_cipher.hpp"

#include <sodium.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <stdexcept>

#include "infra/crypto/sodium_init.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/thread_name.hpp"

namespace counsel::crypto {

static_assert(SubjectKey::kSize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

namespace {

constexpr size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr int kBase64Variant = sodium_base64_VARIANT_ORIGINAL;

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// Wipes a string that held key material (e.g. its hex form) before it is freed.
struct WipeOnExit {
  std::string& text;
  ~WipeOnExit() { sodium_memzero(text.data(), text.size()); }
};

std::string to_hex(const unsigned char* data, size_t size) {
  std::string hex(size * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), data, size);
  hex.resize(size * 2);
  return hex;
}

}  // namespace

// --- SubjectKey ---

SubjectKey SubjectKey::generate() {
  ensure_sodium();
  SubjectKey key;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.bytes_.data());
  return key;
}

std::optional<SubjectKey> SubjectKey::from_bytes(std::string_view bytes) {
  if (bytes.size() != kSize) return std::nullopt;
  SubjectKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

SubjectKey::~SubjectKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

bool operator==(const SubjectKey& a, const SubjectKey& b) {
  return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), SubjectKey::kSize) == 0;
}

// --- fields ---

std::string encrypt_field(const SubjectKey& key, std::string_view plaintext,
                          std::string_view associated_subject) {
  ensure_sodium();
  std::string sealed(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, kNonceSize);  // 192-bit random nonces: collisions are not a concern
  unsigned long long ciphertext_size = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + kNonceSize, &ciphertext_size, bytes_of(plaintext), plaintext.size(),
      bytes_of(associated_subject), associated_subject.size(), nullptr, out, key.data());
  sealed.resize(kNonceSize + ciphertext_size);

  std::string encoded(sodium_base64_encoded_len(sealed.size(), kBase64Variant), '\0');
  sodium_bin2base64(encoded.data(), encoded.size(), out, sealed.size(), kBase64Variant);
  encoded.resize(encoded.size() - 1);  // libsodium's terminating NUL
  return std::string(kEncryptedPrefix) + encoded;
}

std::optional<std::string> decrypt_field(const SubjectKey& key, std::string_view value,
                                         std::string_view associated_subject) {
  ensure_sodium();
  if (!is_encrypted(value)) return std::nullopt;
  const std::string_view encoded = value.substr(kEncryptedPrefix.size());

  std::string sealed(encoded.size() / 4 * 3 + 3, '\0');
  size_t sealed_size = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(sealed.data()), sealed.size(),
                        encoded.data(), encoded.size(), nullptr, &sealed_size, &end,
                        kBase64Variant) != 0 ||
      end != encoded.data() + encoded.size() || sealed_size < kNonceSize + kTagSize) {
    return std::nullopt;
  }
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string plaintext(sealed_size - kNonceSize - kTagSize, '\0');
  unsigned long long plaintext_size = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext.data()), &plaintext_size, nullptr,
          in + kNonceSize, sealed_size - kNonceSize, bytes_of(associated_subject),
          associated_subject.size(), in, key.data()) != 0) {
    return std::nullopt;
  }
  plaintext.resize(plaintext_size);
  return plaintext;
}

bool is_encrypted(std::string_view value) {
  return value.starts_with(kEncryptedPrefix);
}

std::string email_hash(std::string_view email) {
  ensure_sodium();
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t first = email.find_first_not_of(kSpace);
  if (first == std::string_view::npos)
    email = {};
  else
    email = email.substr(first, email.find_last_not_of(kSpace) - first + 1);

  std::string normalized(email);
  for (char& c : normalized) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), bytes_of(normalized), normalized.size());
  return to_hex(digest.data(), digest.size());
}

// --- SubjectKeyring ---

SubjectKeyring::SubjectKeyring(WithConnection with_connection, size_t cache_capacity)
    : with_connection_(std::move(with_connection)), capacity_(std::max<size_t>(cache_capacity, 1)) {
  ensure_sodium();
}

SubjectKeyring::SubjectKeyring(pg::PgPool& pool, size_t cache_capacity,
                               std::chrono::milliseconds acquire_timeout)
    : SubjectKeyring(
          [&pool, acquire_timeout](const ConnectionUser& use) {
            auto lease = pool.acquire(acquire_timeout);
            use(lease.connection());
          },
          cache_capacity) {}

SubjectKeyring::~SubjectKeyring() = default;

namespace {

std::optional<SubjectKey> key_from_hex(std::string hex) {
  WipeOnExit wipe{hex};
  std::array<unsigned char, SubjectKey::kSize> raw{};
  size_t raw_size = 0;
  const char* end = nullptr;
  std::optional<SubjectKey> key;
  if (sodium_hex2bin(raw.data(), raw.size(), hex.data(), hex.size(), nullptr, &raw_size, &end) ==
          0 &&
      end == hex.data() + hex.size() && raw_size == raw.size()) {
    key = SubjectKey::from_bytes(
        std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  }
  sodium_memzero(raw.data(), raw.size());
  return key;
}

struct StoredKey {
  bool exists = false;  // a row: a key, or a tombstone
  std::optional<SubjectKey> key;
  bool erased() const { return exists && !key; }
};

StoredKey select_key(pqxx::transaction_base& tx, const std::string& subject) {
  const pqxx::result rows = tx.exec_params(
      "SELECT encode(key, 'hex') FROM identity.subject_keys WHERE subject = $1::uuid", subject);
  if (rows.empty()) return {};
  if (rows[0][0].is_null()) return {true, std::nullopt};
  auto key = key_from_hex(rows[0][0].as<std::string>());
  if (!key) throw std::runtime_error("identity.subject_keys holds a key of the wrong size");
  return {true, std::move(key)};
}

}  // namespace

void shred_subject_key(pqxx::work& tx, const Uuid& subject) {
  // A tombstone also for a subject that never had a key: nothing may create one later.
  tx.exec_params0(
      "INSERT INTO identity.subject_keys (subject, key, erased_at) VALUES ($1::uuid, NULL, now())"
      " ON CONFLICT (subject) DO UPDATE SET key = NULL,"
      " erased_at = COALESCE(identity.subject_keys.erased_at, now())",
      subject.str());
  tx.exec_params("SELECT pg_notify($1, $2)", std::string(kSubjectErasedChannel), subject.str());
}

SubjectKey SubjectKeyring::get_or_create(const Uuid& subject) {
  if (auto key = cached(subject)) return *key;
  if (is_erased(subject)) throw SubjectErased(subject);
  const uint64_t epoch = erase_epoch();

  const std::string subject_text = subject.str();
  std::optional<SubjectKey> stored;
  bool erased = false;
  with_connection_([&](pqxx::connection& connection) {
    pqxx::work tx(connection);
    auto row = select_key(tx, subject_text);
    erased = row.erased();
    stored = std::move(row.key);
    if (!stored && !erased) {
      const SubjectKey fresh = SubjectKey::generate();
      std::string hex = to_hex(fresh.data(), SubjectKey::kSize);
      WipeOnExit wipe{hex};
      // A concurrent creator may win; DO NOTHING then re-reading (a new snapshot per
      // statement under READ COMMITTED) makes every creator agree on the stored key.
      tx.exec_params(
          "INSERT INTO identity.subject_keys (subject, key) VALUES ($1::uuid, decode($2, 'hex')) "
          "ON CONFLICT (subject) DO NOTHING",
          subject_text, hex);
      auto again = select_key(tx, subject_text);
      erased = again.erased();
      stored = std::move(again.key);
    }
    tx.commit();
  });
  if (erased) {
    forget(subject);
    throw SubjectErased(subject);
  }
  if (!stored) throw std::runtime_error("subject key vanished while being created");
  remember(subject, *stored, epoch);
  return *stored;
}

std::optional<SubjectKey> SubjectKeyring::find(const Uuid& subject) {
  if (auto key = cached(subject)) return key;
  if (is_erased(subject)) return std::nullopt;
  const uint64_t epoch = erase_epoch();
  const std::string subject_text = subject.str();
  StoredKey stored;
  with_connection_([&](pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);  // one statement
    stored = select_key(tx, subject_text);
  });
  if (stored.erased()) forget(subject);
  if (stored.key) remember(subject, *stored.key, epoch);
  return std::move(stored.key);
}

void SubjectKeyring::prefetch(const std::vector<Uuid>& subjects) {
  std::vector<Uuid> wanted;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : subjects)
      if (!index_.contains(s) && !erased_.contains(s) && !keyless_.contains(s)) wanted.push_back(s);
  }
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  // More than the cache holds would only evict what was just loaded.
  if (wanted.size() > capacity_) wanted.resize(capacity_);
  if (wanted.empty()) return;
  std::string array(1, '{');
  for (const auto& s : wanted) {
    if (array.size() > 1) array += ',';
    array += s.str();
  }
  array += '}';
  const uint64_t epoch = erase_epoch();
  std::vector<std::pair<Uuid, SubjectKey>> keys;
  std::vector<Uuid> erased;
  with_connection_([&](pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);  // one statement: BEGIN and COMMIT were two more trips
    // libpqxx 6 has no array parameters: the array travels as its text form.
    const pqxx::result rows = tx.exec_params(
        "SELECT subject::text, encode(key, 'hex') FROM identity.subject_keys"
        " WHERE subject = ANY($1::uuid[])",
        array);
    for (const auto& row : rows) {
      auto subject = Uuid::parse(row[0].c_str());
      if (!subject) continue;
      if (row[1].is_null()) {
        erased.push_back(*subject);
        continue;
      }
      auto key = key_from_hex(row[1].as<std::string>());
      if (!key) throw std::runtime_error("identity.subject_keys holds a key of the wrong size");
      keys.emplace_back(*subject, std::move(*key));
    }
  });
  // Remembered before the tombstones are applied: forget() moves the epoch on, after which
  // remember() (rightly, for a concurrent reader) caches nothing read before it.
  for (const auto& [subject, key] : keys) remember(subject, key, epoch);
  for (const auto& subject : erased) forget(subject);
  // Only ids the query found no row for: a key that was read but not cached (an erasure
  // meanwhile, or evicted at once) must stay wanted.
  std::unordered_set<Uuid> found(erased.begin(), erased.end());
  for (const auto& [subject, key] : keys) found.insert(subject);
  std::lock_guard lock(mutex_);
  for (const auto& s : wanted) {
    if (found.contains(s)) continue;
    if (keyless_.size() >= capacity_) keyless_.clear();
    keyless_.insert(s);
  }
}

void SubjectKeyring::erase(const Uuid& subject) {
  with_connection_([&](pqxx::connection& connection) {
    pqxx::work tx(connection);
    shred_subject_key(tx, subject);
    tx.commit();
  });
  forget(subject);
}

void SubjectKeyring::forget(const Uuid& subject) {
  std::lock_guard lock(mutex_);
  // Readers that started before the erasure committed must not cache what they read.
  ++erase_epoch_;
  erased_.insert(subject);
  if (auto it = index_.find(subject); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
}

bool SubjectKeyring::is_erased(const Uuid& subject) const {
  std::lock_guard lock(mutex_);
  return erased_.contains(subject);
}

bool SubjectKeyring::holds(const Uuid& subject) const {
  std::lock_guard lock(mutex_);
  return index_.contains(subject) || erased_.contains(subject);
}

// --- SubjectErasureFollower ---

SubjectErasureFollower::SubjectErasureFollower(std::string conninfo, SubjectKeyring& keyring)
    : conninfo_(std::move(conninfo)), keyring_(keyring) {}

SubjectErasureFollower::~SubjectErasureFollower() {
  stop();
}

void SubjectErasureFollower::start() {
  if (running_.exchange(true)) return;
  wake_.clear();
  listening_ = pg::ListenHub::shared_for(conninfo_)->subscribe(
      kSubjectErasedChannel,
      [this](const std::vector<std::string>& payloads) {
        for (const auto& payload : payloads)
          if (auto id = Uuid::parse(payload)) keyring_.forget(*id);
      },
      [this] {
        reload_ = true;
        wake_.raise();
      });
  thread_ = std::thread([this] {
    name_this_thread("key-cache");
    run();
  });
}

void SubjectErasureFollower::stop() {
  listening_.reset();
  running_ = false;
  wake_.raise();
  if (thread_.joinable()) thread_.join();
}

// The erasures themselves arrive through the hub (listening_); this thread looks up the ones
// that may have been announced while nobody listened, each time the hub listens anew: LISTEN
// first, then load, so an erasure committed in between is in the load or the announcements.
void SubjectErasureFollower::run() {
  while (running_) {
    if (reload_.exchange(false)) {
      try {
        auto conn = pg::open_connection(conninfo_);
        pqxx::read_transaction tx(*conn);
        for (const auto& row :
             tx.exec("SELECT subject::text FROM identity.subject_keys WHERE key IS NULL")) {
          if (auto id = Uuid::parse(row[0].c_str())) keyring_.forget(*id);
        }
      } catch (const std::exception& e) {
        logging::warn("keyring", std::string("looking up subject erasures failed: ") + e.what());
        reload_ = true;
        // A raise meanwhile (an erasure) must not turn the pause into a busy retry; a stop()
        // that raced the clear has cleared `running_` first.
        if (running_) wake_.clear();
        wake_.sleep_for(std::chrono::milliseconds(500));
        continue;
      }
    }
    wake_.sleep_for(std::chrono::seconds(1));
    if (running_) wake_.clear();
  }
}

uint64_t SubjectKeyring::erase_epoch() const {
  std::lock_guard lock(mutex_);
  return erase_epoch_;
}

size_t SubjectKeyring::cached_count() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

std::optional<SubjectKey> SubjectKeyring::cached(const Uuid& subject) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(subject);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void SubjectKeyring::remember(const Uuid& subject, const SubjectKey& key,
                              uint64_t epoch_before_read) {
  std::lock_guard lock(mutex_);
  if (epoch_before_read != erase_epoch_) return;
  if (auto it = index_.find(subject); it != index_.end()) {
    it->second->second = key;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  keyless_.erase(subject);
  lru_.emplace_front(subject, key);
  index_.emplace(subject, lru_.begin());
  while (index_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();  // ~SubjectKey wipes the evicted key
  }
}

}  // namespace counsel::crypto
