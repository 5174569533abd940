#include "infra/crypto/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "domain/hex.hpp"

namespace counsel::crypto {

Sha256::Sha256() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), context_(EVP_MD_CTX_new()) {
  if (!md_ || !context_) {
    EVP_MD_free(md_);
    EVP_MD_CTX_free(context_);
    throw std::runtime_error("libcrypto offers no SHA-256");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_);
  EVP_MD_free(md_);
}

std::string_view Sha256::hex(std::initializer_list<std::string_view> pieces) {
  unsigned char digest[kDigestBytes];
  unsigned int size = 0;
  bool ok = EVP_DigestInit_ex(context_, md_, nullptr) == 1;
  for (auto piece : pieces) ok = ok && EVP_DigestUpdate(context_, piece.data(), piece.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(context_, digest, &size) == 1 && size == kDigestBytes;
  if (!ok) throw std::runtime_error("SHA-256 failed in libcrypto");
  hex::write_lower(digest, kDigestBytes, hex_.data());
  return {hex_.data(), hex_.size()};
}

}  // namespace counsel::crypto
