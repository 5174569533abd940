#include "infra/crypto/totp.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <limits>
#include <ratio>

#include "infra/crypto/sodium_init.hpp"

namespace counsel::crypto {
namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// a-z and 2-9 without 0, o, 1, l, i: what survives being read aloud or copied from paper.
constexpr std::string_view kRecoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789";
constexpr size_t kRecoveryGroups = 3;
constexpr size_t kRecoveryGroupLength = 4;

using TotpSteps = std::chrono::duration<int64_t, std::ratio<kTotpPeriod.count()>>;

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Decoded secrets are key material: wiped before their memory is freed.
struct WipeOnExit {
  std::string& text;
  ~WipeOnExit() { sodium_memzero(text.data(), text.size()); }
};

// RFC 4226 HOTP (dynamic truncation) over the big-endian step: the step is TOTP's counter.
std::string code_for_key(std::string_view key, int64_t step) {
  if (key.empty() || key.size() > static_cast<size_t>(std::numeric_limits<int>::max())) return "";
  std::array<unsigned char, 8> counter{};
  auto value = static_cast<uint64_t>(step);
  for (size_t i = counter.size(); i-- > 0; value >>= 8) {
    counter[i] = static_cast<unsigned char>(value & 0xff);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), counter.data(), counter.size(),
           mac.data(), &mac_size) == nullptr ||
      mac_size == 0) {
    return "";
  }
  const size_t offset = mac[mac_size - 1] & 0x0f;
  const uint32_t truncated = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                             (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                             (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                             static_cast<uint32_t>(mac[offset + 3]);
  sodium_memzero(mac.data(), mac.size());

  uint32_t modulus = 1;
  for (int i = 0; i < kTotpDigits; ++i) modulus *= 10;
  uint32_t code = truncated % modulus;
  std::string digits(kTotpDigits, '0');
  for (size_t i = digits.size(); i-- > 0; code /= 10) {
    digits[i] = static_cast<char>('0' + code % 10);
  }
  return digits;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

std::string new_recovery_code() {
  std::string code;
  code.reserve(kRecoveryGroups * (kRecoveryGroupLength + 1));
  for (size_t group = 0; group < kRecoveryGroups; ++group) {
    if (group > 0) code += '-';
    for (size_t i = 0; i < kRecoveryGroupLength; ++i) {
      // randombytes_uniform has no modulo bias, unlike `random_byte % 31`.
      code +=
          kRecoveryAlphabet[randombytes_uniform(static_cast<uint32_t>(kRecoveryAlphabet.size()))];
    }
  }
  return code;
}

}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;  // only the low `bits` bits are pending; older ones are shifted out
  int bits = 0;
  for (const char byte : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(byte);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(buffer >> bits) & 0x1f];
    }
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 0x1f];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 5 / 8 + 1);  // no reallocation, so no unwiped copies of a secret
  uint32_t buffer = 0;
  int bits = 0;
  size_t symbols = 0;
  for (const char c : text) {
    if (c == ' ' || c == '=') continue;
    const int value = base32_value(c);
    if (value < 0) {
      sodium_memzero(out.data(), out.size());
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  const size_t tail = symbols % 8;
  if (tail == 1 || tail == 3 || tail == 6) {
    sodium_memzero(out.data(), out.size());
    return std::nullopt;
  }
  return out;
}

std::string new_totp_secret() {
  ensure_sodium();
  std::string secret(kTotpSecretBytes, '\0');
  WipeOnExit wipe{secret};
  randombytes_buf(secret.data(), secret.size());
  return base32_encode(secret);
}

int64_t totp_step(Timestamp t) {
  return std::chrono::floor<TotpSteps>(t.time_since_epoch()).count();
}

std::string totp_code(std::string_view secret_base32, int64_t step) {
  ensure_sodium();
  auto key = base32_decode(secret_base32);
  if (!key) return "";
  WipeOnExit wipe{*key};
  return code_for_key(*key, step);
}

std::optional<int64_t> verify_totp(std::string_view secret_base32, std::string_view code,
                                   Timestamp now) {
  ensure_sodium();
  constexpr size_t kLength = kTotpDigits;
  std::string digits;
  for (const char c : code) {
    if (c == ' ') continue;
    if (c < '0' || c > '9' || digits.size() == kLength) return std::nullopt;
    digits += c;
  }
  if (digits.size() != kLength) return std::nullopt;

  auto key = base32_decode(secret_base32);
  if (!key) return std::nullopt;
  WipeOnExit wipe{*key};

  const int64_t current = totp_step(now);
  // Should two steps share the code, prefer the current one, then the later neighbour: a replay
  // guard keyed on the returned step then errs towards refusing.
  const std::array<int64_t, 3> candidates = {current, current + 1, current - 1};
  std::optional<int64_t> matched;
  for (const int64_t step : candidates) {
    const std::string expected = code_for_key(*key, step);
    if (expected.size() != digits.size()) return std::nullopt;
    if (sodium_memcmp(expected.data(), digits.data(), digits.size()) == 0 && !matched) {
      matched = step;
    }
  }
  return matched;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view secret_base32) {
  const std::string encoded_issuer = percent_encode(issuer);
  std::string uri = "otpauth://totp/";
  uri += encoded_issuer;
  uri += ':';
  uri += percent_encode(account);
  uri += "?secret=";
  uri += percent_encode(secret_base32);
  uri += "&issuer=";
  uri += encoded_issuer;
  uri += "&algorithm=SHA1&digits=";
  uri += std::to_string(kTotpDigits);
  uri += "&period=";
  uri += std::to_string(kTotpPeriod.count());
  return uri;
}

std::vector<std::string> new_recovery_codes(int n) {
  ensure_sodium();
  std::vector<std::string> codes;
  if (n <= 0) return codes;
  codes.reserve(static_cast<size_t>(n));
  while (codes.size() < static_cast<size_t>(n)) {
    std::string code = new_recovery_code();
    // A repeat is astronomically unlikely, but two equal codes would make one of them unusable.
    if (std::find(codes.begin(), codes.end(), code) == codes.end())
      codes.push_back(std::move(code));
  }
  return codes;
}

std::string normalize_recovery_code(std::string_view code) {
  std::string normalized;
  normalized.reserve(code.size());
  for (const char c : code) {
    if (c == '-' || is_ascii_space(c)) continue;
    normalized += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return normalized;
}

}  // namespace counsel::crypto
