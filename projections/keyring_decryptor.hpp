#pragma once
// FieldDecryptor over the subject keys in PostgreSQL (infra/crypto).
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
};

}  // namespace counsel::projections
