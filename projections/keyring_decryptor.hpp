#pragma once
// FieldDecryptor over the subject keys in PostgreSQL (infra/crypto).
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "infra/crypto/field_cipher.hpp"
#include "projections/field_decryptor.hpp"

namespace counsel::projections {

class KeyringFieldDecryptor final : public FieldDecryptor {
 public:
  explicit KeyringFieldDecryptor(crypto::SubjectKeyring& keyring) : keyring_(keyring) {}
  std::optional<std::string> decrypt(const Uuid& subject, std::string_view value) override;
  void shred(pqxx::work& tx, const Uuid& subject) override;
  void prefetch(const std::vector<Uuid>& subjects) override;

 private:
  crypto::SubjectKeyring& keyring_;
  // The ids of the batch each thread applies (prefetch()), fetched together at that thread's
  // first key the keyring does not hold. Fetching them up front was a query per batch on the
  // live projector's critical path, for ids that are mostly no subject at all (each booking's
  // new session id), while the keys a live batch needs are usually held already (the api
  // process made them). A rebuild still loads a batch's keys in one query.
  std::mutex mutex_;
  std::unordered_map<std::thread::id, std::vector<Uuid>> pending_;
};

}  // namespace counsel::projections
