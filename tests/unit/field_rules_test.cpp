// The shared field rules: strict UTF-8 (what every handler checks before text can reach an
// event and a read model) and code-point lengths.
#include <boost/test/unit_test.hpp>

#include "domain/aggregates/field_rules.hpp"

using counsel::fields::utf8_length;
using counsel::fields::valid_utf8;

BOOST_AUTO_TEST_SUITE(field_rules_test)

BOOST_AUTO_TEST_CASE(valid_utf8_accepts_well_formed_text) {
  BOOST_TEST(valid_utf8(""));
  BOOST_TEST(valid_utf8("plain ASCII"));
  BOOST_TEST(valid_utf8("Sawubona, ngiyabonga \xC3\xA9"));  // U+00E9
  BOOST_TEST(valid_utf8("\xE2\x82\xAC"));                   // U+20AC
  BOOST_TEST(valid_utf8("\xF0\x9F\x99\x82"));               // U+1F642
  BOOST_TEST(valid_utf8("\xF4\x8F\xBF\xBF"));               // U+10FFFF, the last
}

BOOST_AUTO_TEST_CASE(valid_utf8_refuses_what_postgresql_would) {
  BOOST_TEST(!valid_utf8("\x80"));              // a lone continuation byte
  BOOST_TEST(!valid_utf8("\xC3"));              // truncated
  BOOST_TEST(!valid_utf8("\xE2\x82"));          // truncated
  BOOST_TEST(!valid_utf8("\xC0\xAF"));          // overlong '/'
  BOOST_TEST(!valid_utf8("\xE0\x80\xAF"));      // overlong '/'
  BOOST_TEST(!valid_utf8("\xED\xA0\x80"));      // U+D800, a surrogate
  BOOST_TEST(!valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  BOOST_TEST(!valid_utf8("\xFF"));
  BOOST_TEST(!valid_utf8("ok \xC3\x28 then"));  // a lead byte without its continuation
}

BOOST_AUTO_TEST_CASE(lengths_count_code_points) {
  BOOST_TEST(utf8_length("abc") == 3u);
  BOOST_TEST(utf8_length("\xC3\xA9\xF0\x9F\x99\x82") == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
