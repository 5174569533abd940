// The in-place reader of canonical event records behind `counsel audit verify`: whatever record
// it accepts, it must read exactly what decode_event reads and hash exactly what the full decode
// hashes; everything it is unsure of it must leave to decode_event. And libcrypto's SHA-256 must
// be the domain's.
#include "domain/events/canonical_event_view.hpp"

#include <boost/test/unit_test.hpp>

#include <cctype>
#include <cstddef>
#include <limits>
#include <random>

#include "domain/events/envelope.hpp"
#include "domain_test_support.hpp"
#include "infra/crypto/sha256.hpp"

using namespace counsel;
using counsel::test::at;
using counsel::test::nth_uuid;
using counsel::test::user;

namespace {

EventEnvelope make_event(unsigned n, std::string_view data = R"({"n":1})") {
  EventEnvelope e;
  e.id = EventId{nth_uuid(n, 50)};
  e.type = "session.requested";
  e.version = 1;
  e.stream = counselor_stream(user(n % 3));
  e.sequence = n + 1;
  e.partition = 7;
  e.occurred_at = at("2026-03-02T08:00:00.123Z") + std::chrono::seconds{n};
  e.actor = Actor{user(2), Role::client};
  e.command_id = CommandId{nth_uuid(n, 51)};
  e.correlation_id = CorrelationId{nth_uuid(n, 52)};
  e.data_json = json::canonical(test::doc(data));
  seal_event(e, n == 0 ? "" : std::string(64, 'a'));
  return e;
}

std::string joined_hash_input(const CanonicalEventView& view) {
  return std::string(view.hash_input_head) + std::string(view.hash_input_tail);
}

// The property the walk relies on. Returns whether the record was viewed.
bool view_agrees_with_decoder(std::string_view record) {
  const auto view = view_canonical_event(record);
  if (!view) return false;
  const auto decoded = decode_event(record);
  BOOST_REQUIRE_MESSAGE(decoded.has_value(), "viewed but not decodable: " << record);
  BOOST_TEST(encode_event(*decoded) == record);
  BOOST_TEST(view->id == decoded->id.value().str());
  BOOST_TEST(view->type == decoded->type);
  BOOST_TEST(view->version == decoded->version);
  BOOST_TEST(view->stream == decoded->stream);
  BOOST_TEST(view->sequence == decoded->sequence);
  BOOST_TEST(view->partition == decoded->partition);
  BOOST_TEST(view->prev_hash == decoded->prev_hash);
  BOOST_TEST(view->hash == decoded->hash);
  BOOST_TEST(joined_hash_input(*view) == event_hash_input(*decoded));
  return true;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto pos = text.find(from);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, from << " not in " << text);
  return text.replace(pos, from.size(), to);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(canonical_event_view_test)

BOOST_AUTO_TEST_CASE(a_written_event_is_viewed_as_the_decoder_reads_it) {
  const auto e = make_event(3);
  const auto record = encode_event(e);
  const auto view = view_canonical_event(record);
  BOOST_REQUIRE(view.has_value());
  BOOST_TEST(view->id == e.id.value().str());
  BOOST_TEST(view->stream == e.stream);
  BOOST_TEST(view->sequence == 4);
  BOOST_TEST(view->partition == 7);
  BOOST_TEST(view->hash == e.hash);
  BOOST_TEST(joined_hash_input(*view) == event_hash_input(e));
  BOOST_TEST(view_agrees_with_decoder(record));
}

BOOST_AUTO_TEST_CASE(data_the_writer_produces_is_viewed) {
  // Every kind of value, escapes as the writer writes them, raw UTF-8 (and bytes that are not
  // UTF-8 at all, which neither the parser nor the writer checks).
  const std::vector<std::string> data = {
      R"({})",
      R"({"a":[],"b":{},"c":[[],{}]})",
      R"({"t":true,"f":false,"z":null,"list":[1,-2,"x",null,true,{"k":"v"}]})",
      R"({"quote":"say \"hi\"","back":"a\\b","ws":"l1\nl2\tx\ry\bz\f"})",
      R"({"controls":"\u0001\u0000\u001f\u000b"})",
      "{\"raw\":\"caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 / \x7F\"}",
      "{\"bytes\":\"\xFF\xFE\x80\"}",
      "{\"\xC3\xA9\":1,\"e\":2,\"z\":3}",
      R"({"ints":[0,-1,9223372036854775807,-9223372036854775808,18446744073709551615]})",
      R"({"reals":[1.5,-0.25,1e300,0.1,-0.0,3.0,1e-7,123456789012345678901234567890]})",
      R"({"deep":{"a":{"b":{"c":[[[{"d":1}]]]}}}})",
  };
  for (size_t i = 0; i < data.size(); ++i) {
    BOOST_TEST_INFO("data " << data[i]);
    const auto record = encode_event(make_event(static_cast<unsigned>(i), data[i]));
    BOOST_TEST(view_agrees_with_decoder(record));
  }
}

BOOST_AUTO_TEST_CASE(envelope_fields_at_their_limits_are_viewed) {
  auto e = make_event(1);
  for (auto role : {Role::client, Role::counselor, Role::admin, Role::compliance, Role::system}) {
    e.actor.role = role;
    BOOST_TEST(view_agrees_with_decoder(encode_event(e)));
  }
  for (auto time : {"0000-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z",
                    "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.001Z"}) {
    BOOST_TEST_INFO("occurred_at " << time);
    e.occurred_at = at(time);
    BOOST_TEST(view_agrees_with_decoder(encode_event(e)));
  }
  e.sequence = std::numeric_limits<int64_t>::max();
  e.partition = std::numeric_limits<int32_t>::min();
  e.version = std::numeric_limits<int32_t>::max();
  e.type = "";
  e.stream = "";
  e.prev_hash = "";
  e.hash = "";
  const auto record = encode_event(e);
  // A 19-digit sequence is left to the decoder; nothing else here needs it.
  BOOST_TEST(!view_canonical_event(record).has_value());
  e.sequence = 999'999'999'999'999'999;
  BOOST_TEST(view_agrees_with_decoder(encode_event(e)));
}

BOOST_AUTO_TEST_CASE(records_the_writer_would_write_otherwise_are_left_to_the_decoder) {
  auto e = make_event(2, R"({"n":1,"s":"x"})");
  e.id = EventId{nth_uuid(0xab, 0xcd)};  // with letters, to write them in upper case
  const auto good = encode_event(e);
  const auto id = e.id.value().str();
  std::string upper_id = id;
  for (auto& c : upper_id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string not_hex_id = id;
  not_hex_id[35] = 'g';
  std::string moved_dash_id = id;
  std::swap(moved_dash_id[8], moved_dash_id[9]);
  const std::vector<std::string> others = {
      good + " ",
      " " + good,
      replaced(good, R"("data":{)", R"("data": {)"),
      replaced(good, R"({"n":1,"s":"x"})", R"({"s":"x","n":1})"),
      replaced(good, R"({"n":1,"s":"x"})", R"({"n":1,"n":2,"s":"x"})"),
      replaced(good, R"("n":1)", R"("n":1.50)"),
      replaced(good, R"("n":1)", R"("n":1e0)"),
      replaced(good, R"("n":1)", R"("n":-0)"),
      replaced(good, R"("n":1)", R"("n":01)"),
      replaced(good, R"("n":1)", R"("n":+1)"),
      replaced(good, R"("s":"x")", R"("s":"\/")"),
      replaced(good, R"("s":"x")", R"("s":"\u0078")"),
      replaced(good, R"("s":"x")", R"("s":"\u00e9")"),
      replaced(good, R"("s":"x")", R"("s":"\u001f")"),
      replaced(good, R"("s":"x")", R"("s":"\u000A")"),
      replaced(good, R"("s":"x")", R"("s":"\ud83d\ude00")"),
      replaced(good, R"("s":"x")", "\"s\":\"a\tb\""),
      replaced(good, R"("s":"x")", R"("s":"x","\u0074":1)"),
      replaced(good, id, upper_id),
      replaced(good, id, not_hex_id),
      replaced(good, id, moved_dash_id),
      replaced(good, R"("partition":7)", R"("partition":4294967303)"),
      replaced(good, R"("version":1)", R"("version":2147483648)"),
      replaced(good, R"("version":1)", R"("version":1.0)"),
      replaced(good, R"("version":1})", R"("version":1,"extra":true})"),
      replaced(good, "T08:00:02.123Z", "t08:00:02.123z"),
      replaced(good, "T08:00:02.123Z", "T08:00:02.1230Z"),
      replaced(good, "T08:00:02.123Z", "T08:00:02.123+00:00"),
      replaced(good, "2026-03-02T", "2026-02-30T"),
      replaced(good, R"("role":"client")", R"("role":"Client")"),
      replaced(good, R"("type":"session.requested")", R"("type":"session\u002erequested")"),
      good.substr(0, good.size() - 1),
  };
  for (const auto& record : others) {
    BOOST_TEST_INFO("record " << record);
    BOOST_TEST(!view_canonical_event(record).has_value());
  }
}

BOOST_AUTO_TEST_CASE(no_edit_of_a_record_makes_the_view_disagree_with_the_decoder) {
  // Random single-byte edits of real records, biased towards the characters that matter to
  // JSON: every edited record is either left to the decoder or read exactly as it reads it.
  const std::vector<std::string> records = {
      encode_event(make_event(0, R"({"a":[1,2.5,{"b":"c\nd"}],"e":"\u0001","f":null})")),
      encode_event(make_event(1, "{\"text\":\"caf\xC3\xA9 \\\"q\\\"\",\"n\":-12}")),
  };
  const std::string alphabet = "\"\\{}[]:,.-+0123456789eEuabfnrtAFZT \t\n\x01\x7F\xC3";
  std::mt19937 random(20261122);
  int viewed = 0;
  for (int round = 0; round < 20000; ++round) {
    auto record = records[static_cast<size_t>(round) % records.size()];
    const auto pos = std::uniform_int_distribution<size_t>(0, record.size() - 1)(random);
    const char c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(random)];
    switch (round % 3) {
      case 0:
        record[pos] = c;
        break;
      case 1:
        record.insert(record.begin() + static_cast<std::ptrdiff_t>(pos), c);
        break;
      default:
        record.erase(pos, 1);
    }
    viewed += view_agrees_with_decoder(record) ? 1 : 0;
  }
  // Some edits (a digit of a number, a letter of a string) leave a canonical record.
  BOOST_TEST(viewed > 0);
}

BOOST_AUTO_TEST_CASE(a_peeked_type_is_the_decoders_or_none) {
  const auto written = encode_event(make_event(3));
  BOOST_TEST(peek_event_type(written).value_or("") == "session.requested");
  // Shapes it leaves to the decoder.
  BOOST_TEST(!peek_event_type(""));
  BOOST_TEST(!peek_event_type("{}"));
  BOOST_TEST(!peek_event_type(R"({"type":"a.b","version":1})"));  // no stream before it
  BOOST_TEST(!peek_event_type(R"({"x":1,"stream":"s","type":"a.b","version":1} )"));
  BOOST_TEST(!peek_event_type(R"({"x":1,"stream":"s","type":"a.b","version":x})"));
  BOOST_TEST(!peek_event_type(R"({"x":1,"stream":"s","type":"A\u0042","version":1})"));
  // Duplicate keys: the last "type" is not necessarily the one a parser keeps.
  BOOST_TEST(!peek_event_type(R"({"x":1,"stream":"s","type":"a.b","type":"c.d","version":1})"));
  BOOST_TEST(!peek_event_type(R"({"type":"a.b","x":1,"stream":"s","type":"c.d","version":1})"));
  BOOST_TEST(!peek_event_type(R"({"data":{"type":"x"},"stream":"s","type":"c.d","version":1})"));
  BOOST_TEST(peek_event_type(R"({"x":1,"stream":"s","type":"a.b","version":12})").value_or("") ==
             "a.b");
  // Random edits of real records: whenever both read a type, it is the same.
  std::mt19937 random(20261207);
  const std::string alphabet = "\"\\{}:,.atyps0123456789";
  int peeked = 0;
  for (int round = 0; round < 20000; ++round) {
    auto record = encode_event(make_event(static_cast<unsigned>(round % 5)));
    // Edits near the end, where the type and version are.
    const auto tail = std::min<size_t>(record.size(), 120);
    const auto pos = record.size() - 1 - std::uniform_int_distribution<size_t>(0, tail - 1)(random);
    const char c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(random)];
    if (round % 2 == 0)
      record[pos] = c;
    else
      record.insert(record.begin() + static_cast<std::ptrdiff_t>(pos), c);
    const auto type = peek_event_type(record);
    if (!type) continue;
    ++peeked;
    if (auto decoded = decode_event(record)) BOOST_TEST(decoded->type == *type, record);
  }
  BOOST_TEST(peeked > 0);
}

BOOST_AUTO_TEST_CASE(libcrypto_sha256_is_the_domains) {
  crypto::Sha256 sha256;
  BOOST_TEST(sha256.hex({""}) == sha256_hex(""));
  BOOST_TEST(sha256.hex({"abc"}) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto record = encode_event(make_event(4));
  BOOST_TEST(sha256.hex({record}) == sha256_hex(record));
  BOOST_TEST(sha256.hex({std::string_view(record).substr(0, 100),
                         std::string_view(record).substr(100)}) == sha256_hex(record));
  const std::string long_input(100'000, 'x');
  BOOST_TEST(sha256.hex({long_input}) == sha256_hex(long_input));
}

BOOST_AUTO_TEST_SUITE_END()
