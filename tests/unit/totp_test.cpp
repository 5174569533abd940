#include <boost/test/unit_test.hpp>

#include <sodium.h>

#include <limits>
#include <set>

#include "infra/crypto/sodium_init.hpp"
#include "infra/crypto/totp.hpp"

using namespace counsel;
using namespace counsel::crypto;

namespace {

// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" (ASCII) in base32.
const std::string kRfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
// Stands in for nullopt where Boost.Test has to print a step (it cannot print an optional).
constexpr int64_t kNoMatch = std::numeric_limits<int64_t>::min();

Timestamp at_seconds(int64_t seconds) {
  return Timestamp(std::chrono::seconds(seconds));
}

std::string random_bytes(size_t size) {
  ensure_sodium();
  std::string bytes(size, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  return bytes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(totp_test)

BOOST_AUTO_TEST_CASE(base32_matches_the_rfc_4648_vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "MY"},
                                                         {"fo", "MZXQ"},
                                                         {"foo", "MZXW6"},
                                                         {"foob", "MZXW6YQ"},
                                                         {"fooba", "MZXW6YTB"},
                                                         {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : vectors) {
    BOOST_TEST(base32_encode(plain) == encoded);
    const auto decoded = base32_decode(encoded);
    BOOST_REQUIRE(decoded.has_value());
    BOOST_TEST(*decoded == plain);
  }
  BOOST_TEST(base32_encode("12345678901234567890") == kRfcSecret);
}

BOOST_AUTO_TEST_CASE(base32_decode_is_lenient_about_case_spaces_and_padding) {
  BOOST_TEST(base32_decode("mzxw6ytboi").value_or("?") == "foobar");
  BOOST_TEST(base32_decode("MZXW 6YTB OI").value_or("?") == "foobar");
  BOOST_TEST(base32_decode("MZXW6YTBOI======").value_or("?") == "foobar");
  BOOST_TEST(base32_decode("MY======").value_or("?") == "f");
}

BOOST_AUTO_TEST_CASE(base32_decode_rejects_bad_characters) {
  BOOST_TEST(!base32_decode("MZXW6YT1").has_value());  // '1' is not in the alphabet
  BOOST_TEST(!base32_decode("MZXW0YTB").has_value());
  BOOST_TEST(!base32_decode("MZXW6YT8").has_value());
  BOOST_TEST(!base32_decode("MZXW-6YTB").has_value());
  BOOST_TEST(!base32_decode("MZXW\t6YTB").has_value());
  BOOST_TEST(!base32_decode("MZXWÄYTB").has_value());
}

BOOST_AUTO_TEST_CASE(base32_decode_rejects_impossible_lengths) {
  BOOST_TEST(!base32_decode("M").has_value());
  BOOST_TEST(!base32_decode("MZX").has_value());
  BOOST_TEST(!base32_decode("MZXW6Y").has_value());
  BOOST_TEST(!base32_decode("MZXW6YTBM").has_value());
}

BOOST_AUTO_TEST_CASE(base32_round_trips_random_bytes) {
  for (size_t size = 0; size < 64; ++size) {
    const std::string bytes = random_bytes(size);
    const std::string encoded = base32_encode(bytes);
    BOOST_TEST(encoded.size() == (size * 8 + 4) / 5);
    const auto decoded = base32_decode(encoded);
    BOOST_REQUIRE(decoded.has_value());
    BOOST_TEST(*decoded == bytes);
  }
}

BOOST_AUTO_TEST_CASE(new_secrets_are_20_random_bytes_in_base32) {
  const std::string a = new_totp_secret();
  const std::string b = new_totp_secret();
  BOOST_TEST(a.size() == 32u);
  BOOST_TEST(a != b);
  const auto decoded = base32_decode(a);
  BOOST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->size() == 20u);
  BOOST_TEST(base32_encode(*decoded) == a);
}

BOOST_AUTO_TEST_CASE(steps_are_30_seconds_floored) {
  BOOST_TEST(totp_step(at_seconds(0)) == 0);
  BOOST_TEST(totp_step(at_seconds(29)) == 0);
  BOOST_TEST(totp_step(at_seconds(30)) == 1);
  BOOST_TEST(totp_step(at_seconds(59)) == 1);
  BOOST_TEST(totp_step(at_seconds(1'111'111'109)) == 37'037'036);
  BOOST_TEST(totp_step(at_seconds(-1)) == -1);
  BOOST_TEST(totp_step(Timestamp(std::chrono::milliseconds(29'999))) == 0);
}

BOOST_AUTO_TEST_CASE(codes_match_the_rfc_6238_sha1_vectors) {
  // The RFC prints 8 digits; 6-digit codes are the last 6 of them.
  const std::pair<int64_t, std::string> vectors[] = {{59, "287082"},
                                                     {1'111'111'109, "081804"},
                                                     {1'111'111'111, "050471"},
                                                     {1'234'567'890, "005924"},
                                                     {2'000'000'000, "279037"},
                                                     {20'000'000'000, "353130"}};
  for (const auto& [seconds, code] : vectors) {
    BOOST_TEST_CONTEXT("T = " << seconds) {
      BOOST_TEST(totp_code(kRfcSecret, totp_step(at_seconds(seconds))) == code);
      BOOST_TEST(verify_totp(kRfcSecret, code, at_seconds(seconds)).value_or(kNoMatch) ==
                 totp_step(at_seconds(seconds)));
    }
  }
}

BOOST_AUTO_TEST_CASE(code_is_empty_for_an_invalid_secret) {
  BOOST_TEST(totp_code("not base32!", 1).empty());
  BOOST_TEST(totp_code("", 1).empty());
  BOOST_TEST(!verify_totp("not base32!", "123456", at_seconds(59)).has_value());
  BOOST_TEST(!verify_totp("", "123456", at_seconds(59)).has_value());
}

BOOST_AUTO_TEST_CASE(secret_may_be_given_in_lower_case_and_groups) {
  BOOST_TEST(totp_code("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", 1) == "287082");
}

BOOST_AUTO_TEST_CASE(verify_accepts_one_step_of_drift_and_returns_the_step) {
  const std::string secret = new_totp_secret();
  const Timestamp now = at_seconds(1'800'000'000);
  const int64_t step = totp_step(now);
  for (const int64_t drift : {-1, 0, 1}) {
    BOOST_TEST_CONTEXT("drift " << drift) {
      const auto matched = verify_totp(secret, totp_code(secret, step + drift), now);
      BOOST_REQUIRE(matched.has_value());
      BOOST_TEST(*matched == step + drift);
    }
  }
}

BOOST_AUTO_TEST_CASE(verify_rejects_two_steps_of_drift) {
  const Timestamp now = at_seconds(1'800'000'000);
  const int64_t step = totp_step(now);
  // The RFC secret's codes for these steps differ from those of the three accepted steps.
  for (const int64_t drift : {-2, 2}) {
    const std::string code = totp_code(kRfcSecret, step + drift);
    BOOST_REQUIRE(code != totp_code(kRfcSecret, step - 1));
    BOOST_REQUIRE(code != totp_code(kRfcSecret, step));
    BOOST_REQUIRE(code != totp_code(kRfcSecret, step + 1));
    BOOST_TEST(!verify_totp(kRfcSecret, code, now).has_value(), "drift " << drift);
  }
}

BOOST_AUTO_TEST_CASE(verify_ignores_spaces_in_the_code) {
  BOOST_TEST(verify_totp(kRfcSecret, "287 082", at_seconds(59)).value_or(kNoMatch) == 1);
  BOOST_TEST(verify_totp(kRfcSecret, " 287082 ", at_seconds(59)).value_or(kNoMatch) == 1);
}

BOOST_AUTO_TEST_CASE(verify_rejects_malformed_codes) {
  const Timestamp t = at_seconds(59);
  BOOST_TEST(verify_totp(kRfcSecret, "287082", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "87082", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "2870820", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "94287082", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "28708a", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "287-082", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "+87082", t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, std::string("287082\0", 7), t).has_value());
  BOOST_TEST(!verify_totp(kRfcSecret, "２８７０８２", t).has_value());  // full-width digits
  BOOST_TEST(!verify_totp(kRfcSecret, "287083", t).has_value());
}

BOOST_AUTO_TEST_CASE(otpauth_uri_has_the_key_uri_format) {
  BOOST_TEST(otpauth_uri("Counsel", "alice@example.org", "JBSWY3DPEHPK3PXP") ==
             "otpauth://totp/Counsel:alice%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=Counsel"
             "&algorithm=SHA1&digits=6&period=30");
}

BOOST_AUTO_TEST_CASE(otpauth_uri_percent_encodes_issuer_and_account) {
  BOOST_TEST(otpauth_uri("Counsel & Co", "a b@x.org", "JBSWY3DPEHPK3PXP") ==
             "otpauth://totp/Counsel%20%26%20Co:a%20b%40x.org?secret=JBSWY3DPEHPK3PXP"
             "&issuer=Counsel%20%26%20Co&algorithm=SHA1&digits=6&period=30");
  BOOST_TEST(otpauth_uri("A:B?", "x-y_z.~/é", "JBSWY3DPEHPK3PXP") ==
             "otpauth://totp/A%3AB%3F:x-y_z.~%2F%C3%A9?secret=JBSWY3DPEHPK3PXP"
             "&issuer=A%3AB%3F&algorithm=SHA1&digits=6&period=30");
}

BOOST_AUTO_TEST_CASE(recovery_codes_are_distinct_and_well_formed) {
  const auto codes = new_recovery_codes(10);
  BOOST_TEST(codes.size() == 10u);
  BOOST_TEST(std::set<std::string>(codes.begin(), codes.end()).size() == codes.size());
  for (const std::string& code : codes) {
    BOOST_TEST_CONTEXT(code) {
      BOOST_REQUIRE(code.size() == 14u);
      BOOST_TEST(code[4] == '-');
      BOOST_TEST(code[9] == '-');
    }
  }
  BOOST_TEST(new_recovery_codes(0).empty());
  BOOST_TEST(new_recovery_codes(-1).empty());
}

BOOST_AUTO_TEST_CASE(recovery_codes_use_no_look_alikes) {
  std::set<char> seen;
  for (const std::string& code : new_recovery_codes(200)) {
    for (const char c : code) {
      if (c != '-') seen.insert(c);
    }
  }
  for (const char look_alike : {'0', 'o', '1', 'l', 'i'}) {
    BOOST_TEST(!seen.contains(look_alike), "found " << look_alike);
  }
  for (const char c : seen) {
    BOOST_TEST(((c >= 'a' && c <= 'z') || (c >= '2' && c <= '9')), "found " << c);
  }
  // 2400 draws from 31 symbols: every symbol shows up (a miss has odds below 1e-30).
  BOOST_TEST(seen.size() == 31u);
}

BOOST_AUTO_TEST_CASE(normalized_recovery_codes_round_trip) {
  for (const std::string& code : new_recovery_codes(5)) {
    const std::string normalized = normalize_recovery_code(code);
    BOOST_TEST(normalized.size() == 12u);
    BOOST_TEST(normalized.find('-') == std::string::npos);
    BOOST_TEST(normalize_recovery_code(normalized) == normalized);

    std::string typed;
    for (const char c : normalized) {
      typed += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      if (typed.size() % 5 == 4) typed += ' ';
    }
    BOOST_TEST(normalize_recovery_code(typed) == normalized, typed);
  }
  BOOST_TEST(normalize_recovery_code(" ABCD-efgh - JKMN\n") == "abcdefghjkmn");
}

BOOST_AUTO_TEST_SUITE_END()
