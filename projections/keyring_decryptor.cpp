#include "projections/keyring_decryptor.hpp"

#include "infra/logging.hpp"

namespace counsel::projections {

std::optional<std::string> KeyringFieldDecryptor::decrypt(const Uuid& subject,
                                                          std::string_view value) {
  if (!crypto::is_encrypted(value)) return std::string(value);
  if (!keyring_.holds(subject)) {
    std::vector<Uuid> batch;
    {
      std::lock_guard lock(mutex_);
      if (auto it = pending_.find(std::this_thread::get_id()); it != pending_.end()) {
        batch = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (!batch.empty()) keyring_.prefetch(batch);
  }
  auto key = keyring_.find(subject);
  if (!key) return std::nullopt;  // erased: crypto-shredded
  const std::string subject_text = subject.str();
  auto clear = crypto::decrypt_field(*key, value, subject_text);
  if (!clear) {
    // The subject has a key but not the one this field was sealed with (erased, then a new
    // key made for the same id) or the value was altered: unreadable, like an erased field.
    logging::warn("projector", "a field of subject " + subject_text + " does not decrypt");
  }
  return clear;
}

void KeyringFieldDecryptor::shred(pqxx::work& tx, const Uuid& subject) {
  crypto::shred_subject_key(tx, subject);
  // Now, not at commit: later events of this batch must not decrypt with a cached key. Should
  // the transaction roll back, the batch is applied again and shreds again.
  keyring_.forget(subject);
}

void KeyringFieldDecryptor::prefetch(const std::vector<Uuid>& subjects) {
  std::lock_guard lock(mutex_);
  if (subjects.empty())
    pending_.erase(std::this_thread::get_id());
  else
    pending_[std::this_thread::get_id()] = subjects;
}

}  // namespace counsel::projections
