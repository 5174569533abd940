#include <boost/test/unit_test.hpp>

#include "infra/crypto/password_hasher.hpp"

using namespace counsel::crypto;

BOOST_AUTO_TEST_SUITE(password_hasher_test)

BOOST_AUTO_TEST_CASE(hashes_with_argon2id_and_verifies) {
  const PasswordHasher hasher = PasswordHasher::fast_for_tests();
  const std::string hash = hasher.hash("correct horse battery staple");
  BOOST_TEST(hash.starts_with("$argon2id$"));
  BOOST_TEST(hash.find("correct horse") == std::string::npos);
  BOOST_TEST(hasher.verify(hash, "correct horse battery staple"));
  BOOST_TEST(!hasher.verify(hash, "correct horse battery stapler"));
  BOOST_TEST(!hasher.verify(hash, ""));
}

BOOST_AUTO_TEST_CASE(salts_every_hash) {
  const PasswordHasher hasher = PasswordHasher::fast_for_tests();
  const std::string first = hasher.hash("same password");
  const std::string second = hasher.hash("same password");
  BOOST_TEST(first != second);
  BOOST_TEST(hasher.verify(first, "same password"));
  BOOST_TEST(hasher.verify(second, "same password"));
}

BOOST_AUTO_TEST_CASE(handles_unusual_passwords) {
  const PasswordHasher hasher = PasswordHasher::fast_for_tests();
  const std::string with_nul("a\0b", 3);
  const std::string hash = hasher.hash(with_nul);
  BOOST_TEST(hasher.verify(hash, with_nul));
  BOOST_TEST(!hasher.verify(hash, "a"));
  const std::string unicode = "pässwörd-日本語";
  BOOST_TEST(hasher.verify(hasher.hash(unicode), unicode));
}

BOOST_AUTO_TEST_CASE(malformed_hashes_never_verify) {
  const PasswordHasher hasher = PasswordHasher::fast_for_tests();
  BOOST_TEST(!hasher.verify("", "x"));
  BOOST_TEST(!hasher.verify("plaintext", "plaintext"));
  BOOST_TEST(!hasher.verify(std::string(500, '$'), "x"));
  BOOST_TEST(!hasher.verify("enc:v1:AAAA", "x"));
}

BOOST_AUTO_TEST_CASE(reports_when_a_hash_needs_rehashing) {
  const PasswordHasher fast = PasswordHasher::fast_for_tests();
  const PasswordHasher stronger(PasswordHashCost{fast.cost().ops_limit + 1, fast.cost().mem_limit});
  const std::string hash = fast.hash("pw");
  BOOST_TEST(!fast.needs_rehash(hash));
  BOOST_TEST(stronger.needs_rehash(hash));
  BOOST_TEST(stronger.verify(hash, "pw"));  // old hashes still verify under new settings
  BOOST_TEST(fast.needs_rehash("not a hash"));
}

BOOST_AUTO_TEST_CASE(default_cost_is_libsodium_interactive) {
  const PasswordHasher hasher;
  BOOST_TEST(hasher.cost().ops_limit == PasswordHashCost::interactive().ops_limit);
  BOOST_TEST(hasher.cost().mem_limit == PasswordHashCost::interactive().mem_limit);
  BOOST_TEST(PasswordHashCost::minimum().mem_limit < PasswordHashCost::interactive().mem_limit);
}

BOOST_AUTO_TEST_SUITE_END()
