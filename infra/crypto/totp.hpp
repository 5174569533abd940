#pragma once
// Second factor: time-based one-time passwords (RFC 6238) with the parameters every
// authenticator app assumes when the otpauth URI names none (HMAC-SHA1, 6 digits, 30 s), and
// single-use recovery codes for users who lose their device.
//
// Secrets travel as base32 (RFC 4648), the form authenticator apps accept by QR code or typed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/time.hpp"

namespace counsel::crypto {

inline constexpr int kTotpDigits = 6;
inline constexpr std::chrono::seconds kTotpPeriod{30};
inline constexpr size_t kTotpSecretBytes = 20;  // the HMAC-SHA1 block-size recommendation

// Alphabet A-Z2-7, no '=' padding (authenticator apps do not want it).
std::string base32_encode(std::string_view bytes);
// Case-insensitive; spaces and '=' are ignored, so grouped or padded input decodes too.
// nullopt on any other character, or on a trailing group of 1, 3 or 6 characters (no encoder
// produces one, so it is a typo).
std::optional<std::string> base32_decode(std::string_view text);

// 20 random bytes as base32: 32 characters.
std::string new_totp_secret();

// floor(unix_seconds / 30), also for instants before 1970.
int64_t totp_step(Timestamp t);
// Zero-padded, kTotpDigits long. "" when the secret is not valid base32 or decodes to nothing.
std::string totp_code(std::string_view secret_base32, int64_t step);
// Accepts the codes of steps now-1, now and now+1 (clocks drift). Returns the matched step, so
// the caller can refuse a replay (a step at or below the last one accepted), nullopt otherwise.
// Anything but exactly kTotpDigits ASCII digits (spaces are ignored) is rejected.
std::optional<int64_t> verify_totp(std::string_view secret_base32, std::string_view code,
                                   Timestamp now);

// otpauth://totp/<issuer>:<account>?secret=<S>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
// with every value percent-encoded (only RFC 3986 unreserved characters kept), for a QR code.
std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view secret_base32);

// `n` distinct codes like "abcd-efgh-jkmn": 12 random characters from a-z and 2-9 without the
// look-alikes 0, o, 1, l, i (31 symbols, 59.4 bits per code). Store them hashed, in the form
// normalize_recovery_code gives.
std::vector<std::string> new_recovery_codes(int n);
// Lower-cases ASCII and drops whitespace and dashes, so "ABCD EFGH JKMN" matches "abcd-efgh-jkmn".
std::string normalize_recovery_code(std::string_view code);

}  // namespace counsel::crypto
