#include <boost/test/unit_test.hpp>

#include "infra/crypto/field_cipher.hpp"

using namespace counsel::crypto;

namespace {
const std::string kAlice = "0190f2d4-7c2e-7a3b-8e1f-0000000000a1";
const std::string kBob = "0190f2d4-7c2e-7a3b-8e1f-0000000000b0";
}  // namespace

BOOST_AUTO_TEST_SUITE(field_cipher_test)

BOOST_AUTO_TEST_CASE(round_trips_a_field) {
  const SubjectKey key = SubjectKey::generate();
  const std::string sealed = encrypt_field(key, "Alice Mokoena", kAlice);
  BOOST_TEST(sealed.starts_with("enc:v1:"));
  BOOST_TEST(is_encrypted(sealed));
  BOOST_TEST(sealed.find("Alice") == std::string::npos);
  auto opened = decrypt_field(key, sealed, kAlice);
  BOOST_REQUIRE(opened.has_value());
  BOOST_TEST(*opened == "Alice Mokoena");
}

BOOST_AUTO_TEST_CASE(round_trips_empty_and_binary_text) {
  const SubjectKey key = SubjectKey::generate();
  BOOST_TEST(*decrypt_field(key, encrypt_field(key, "", kAlice), kAlice) == "");
  const std::string binary("\0\xff\n\"", 4);
  BOOST_TEST(*decrypt_field(key, encrypt_field(key, binary, kAlice), kAlice) == binary);
}

BOOST_AUTO_TEST_CASE(uses_a_fresh_nonce_every_time) {
  const SubjectKey key = SubjectKey::generate();
  BOOST_TEST(encrypt_field(key, "same", kAlice) != encrypt_field(key, "same", kAlice));
}

BOOST_AUTO_TEST_CASE(fails_for_another_subject_or_key) {
  const SubjectKey key = SubjectKey::generate();
  const std::string sealed = encrypt_field(key, "secret", kAlice);
  BOOST_TEST(!decrypt_field(key, sealed, kBob).has_value());
  BOOST_TEST(!decrypt_field(SubjectKey::generate(), sealed, kAlice).has_value());
}

BOOST_AUTO_TEST_CASE(fails_when_tampered) {
  const SubjectKey key = SubjectKey::generate();
  const std::string sealed = encrypt_field(key, "the clinical note", kAlice);
  for (size_t i = std::string("enc:v1:").size(); i + 2 < sealed.size(); i += 3) {
    std::string tampered = sealed;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    BOOST_TEST_CONTEXT("position " << i) {
      BOOST_TEST(!decrypt_field(key, tampered, kAlice).has_value());
    }
  }
  BOOST_TEST(!decrypt_field(key, sealed.substr(0, sealed.size() - 4), kAlice).has_value());
}

BOOST_AUTO_TEST_CASE(rejects_values_that_are_not_sealed_fields) {
  const SubjectKey key = SubjectKey::generate();
  BOOST_TEST(!is_encrypted("plain text"));
  BOOST_TEST(!decrypt_field(key, "plain text", kAlice).has_value());
  BOOST_TEST(!decrypt_field(key, "enc:v1:", kAlice).has_value());
  BOOST_TEST(!decrypt_field(key, "enc:v1:!!!!", kAlice).has_value());
  BOOST_TEST(!decrypt_field(key, "enc:v1:AAAA", kAlice).has_value());
}

BOOST_AUTO_TEST_CASE(keys_compare_and_load_from_bytes) {
  const SubjectKey key = SubjectKey::generate();
  const SubjectKey copy = key;
  BOOST_TEST((copy == key));
  BOOST_TEST(!(SubjectKey::generate() == key));
  BOOST_TEST(!SubjectKey::from_bytes("short").has_value());
  auto loaded = SubjectKey::from_bytes(std::string(32, 'k'));
  BOOST_REQUIRE(loaded.has_value());
  BOOST_TEST(*decrypt_field(*loaded, encrypt_field(*loaded, "x", kAlice), kAlice) == "x");
}

BOOST_AUTO_TEST_CASE(email_hash_normalizes_case_and_whitespace) {
  const std::string hash = email_hash("  Thandi@Example.COM\n");
  BOOST_TEST(hash == email_hash("thandi@example.com"));
  BOOST_TEST(hash.size() == 64u);
  BOOST_TEST(hash != email_hash("thandi@example.org"));
  // sha256("a@b.co"), computed with sha256sum.
  BOOST_TEST(email_hash("A@B.CO") ==
             "80305c9bb1bb2480e03894350e0a8a366dcbdeb302e69e0817aa0743abd77054");
}

BOOST_AUTO_TEST_SUITE_END()
