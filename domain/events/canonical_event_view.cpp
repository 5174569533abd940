#include "domain/events/canonical_event_view.hpp"

#include <array>
#include <cstring>
#include <limits>

#include "domain/ids.hpp"
#include "domain/json.hpp"
#include "domain/time.hpp"

namespace counsel {
namespace {

// Deeper data is left to the full decoder (whose limit, 64, counts the whole event); no event
// type nests anywhere near this.
constexpr int kMaxDataDepth = 16;
// Integers with at most this many digits fit every integer type RapidJSON parses into, so the
// writer gives the same digits back; longer ones are checked by a RapidJSON round trip.
constexpr size_t kPlainIntegerDigits = 18;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class CanonicalScanner {
 public:
  explicit CanonicalScanner(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  size_t position() const { return static_cast<size_t>(p_ - begin_); }
  bool at_end() const { return p_ == end_; }

  bool literal(std::string_view expected) {
    if (static_cast<size_t>(end_ - p_) < expected.size() ||
        std::memcmp(p_, expected.data(), expected.size()) != 0)
      return false;
    p_ += expected.size();
    return true;
  }

  // A string without escapes: its bytes are its value. The envelope's own text fields and the
  // object keys of data are read this way (an escaped key would sort by its decoded bytes).
  bool plain_string(std::string_view& out) {
    if (!literal("\"")) return false;
    const char* start = p_;
    for (; p_ < end_; ++p_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      // A raw control character is invalid JSON; an escape is read by canonical_string.
      if (c == '\\' || c < 0x20) return false;
    }
    return false;
  }

  // A string exactly as RapidJSON's writer escapes it: '"' and '\\' and the control characters
  // (\b \f \n \r \t, the others as \u00XX in upper-case hex); every other byte raw.
  bool canonical_string() {
    if (!literal("\"")) return false;
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      if (end_ - p_ < 2) return false;
      const char escaped = p_[1];
      if (escaped == '"' || escaped == '\\' || escaped == 'b' || escaped == 'f' || escaped == 'n' ||
          escaped == 'r' || escaped == 't') {
        p_ += 2;
        continue;
      }
      if (escaped != 'u' || end_ - p_ < 6 || p_[2] != '0' || p_[3] != '0') return false;
      int code = 0;
      if (p_[4] == '1')
        code = 0x10;
      else if (p_[4] != '0')
        return false;
      const char low = p_[5];
      if (is_digit(low))
        code += low - '0';
      else if (low >= 'A' && low <= 'F')
        code += low - 'A' + 10;
      else
        return false;
      // These five have short escapes, which is what the writer uses for them.
      if (code == '\b' || code == '\f' || code == '\n' || code == '\r' || code == '\t')
        return false;
      p_ += 6;
    }
    return false;
  }

  // A decimal integer as the writer writes it (no '+', no leading zero, no "-0") that fits Int.
  // On failure the position is left anywhere: callers give up or rewind.
  template <class Int>
  bool plain_integer(Int& out) {
    const bool negative = p_ < end_ && *p_ == '-';
    if (negative) ++p_;
    const char* digits = p_;
    while (p_ < end_ && is_digit(*p_)) ++p_;
    const auto count = static_cast<size_t>(p_ - digits);
    if (count == 0 || count > kPlainIntegerDigits || (digits[0] == '0' && (count > 1 || negative)))
      return false;
    int64_t value = 0;
    for (const char* d = digits; d < p_; ++d) value = value * 10 + (*d - '0');
    if (negative) value = -value;
    if constexpr (sizeof(Int) < sizeof(int64_t)) {
      // decode_event narrows these with a cast, so a wider value would re-encode differently.
      if (value < std::numeric_limits<Int>::min() || value > std::numeric_limits<Int>::max())
        return false;
    }
    out = static_cast<Int>(value);
    return true;
  }

  bool canonical_value(int depth) {
    if (p_ == end_ || depth > kMaxDataDepth) return false;
    switch (*p_) {
      case '{':
        return canonical_object(depth);
      case '[':
        return canonical_array(depth);
      case '"':
        return canonical_string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return canonical_number();
    }
  }

  // An object whose keys are strictly increasing: json::canonical sorts keys, and with a
  // duplicate key the order it writes would not be defined.
  bool canonical_object(int depth) {
    if (!literal("{")) return false;
    if (literal("}")) return true;
    std::string_view previous_key;
    for (bool first = true;; first = false) {
      std::string_view key;
      if (!plain_string(key) || (!first && !(previous_key < key)) || !literal(":") ||
          !canonical_value(depth + 1))
        return false;
      previous_key = key;
      if (literal("}")) return true;
      if (!literal(",")) return false;
    }
  }

  bool canonical_array(int depth) {
    if (!literal("[")) return false;
    if (literal("]")) return true;
    while (true) {
      if (!canonical_value(depth + 1)) return false;
      if (literal("]")) return true;
      if (!literal(",")) return false;
    }
  }

  bool canonical_number() {
    const char* start = p_;
    int64_t ignored = 0;
    if (plain_integer(ignored) && !continues_number()) return true;
    // Fractions, exponents, long integers and "-0": the writer's form of what the parser reads
    // is not obvious, so ask them.
    p_ = start;
    while (continues_number()) ++p_;
    const std::string_view token(start, static_cast<size_t>(p_ - start));
    if (token.empty()) return false;
    const auto parsed = json::parse(token);
    return parsed && parsed->IsNumber() && json::to_string(*parsed) == token;
  }

 private:
  bool continues_number() const {
    return p_ < end_ &&
           (is_digit(*p_) || *p_ == '-' || *p_ == '+' || *p_ == '.' || *p_ == 'e' || *p_ == 'E');
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

// 1 for every byte but 0-9 and a-f. The check ORs table entries rather than branching per
// character: four ids per event, in random hex, made the branches mispredict and this the
// walk's hottest function (audit verify).
constexpr std::array<unsigned char, 256> kNotLowerHex = [] {
  std::array<unsigned char, 256> table{};
  for (auto& entry : table) entry = 1;
  for (char c = '0'; c <= '9'; ++c) table[static_cast<unsigned char>(c)] = 0;
  for (char c = 'a'; c <= 'f'; ++c) table[static_cast<unsigned char>(c)] = 0;
  return table;
}();

bool is_canonical_uuid(std::string_view text) {
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
    return false;
  unsigned bad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    bad |= kNotLowerHex[static_cast<unsigned char>(text[i])];
  }
  return bad == 0;
}

// What format_rfc3339 writes: YYYY-MM-DDTHH:MM:SS.mmmZ. parse_rfc3339 then checks the date and
// the time's ranges; with every field at a fixed width the writer gives the same text back.
bool is_canonical_timestamp(std::string_view text) {
  static constexpr std::string_view shape = "0000-00-00T00:00:00.000Z";
  if (text.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == '0' ? !is_digit(text[i]) : text[i] != shape[i]) return false;
  }
  return parse_rfc3339(text).has_value();
}

bool is_role(std::string_view text) {
  const auto role = parse_role(text);
  return role && to_string(*role) == text;
}

bool uuid_member(CanonicalScanner& scan, std::string_view& out) {
  return scan.plain_string(out) && is_canonical_uuid(out);
}

}  // namespace

std::optional<CanonicalEventView> view_canonical_event(std::string_view record) {
  // Members in encode_event's order (sorted keys), nothing between them.
  CanonicalScanner scan(record);
  CanonicalEventView view;
  std::string_view ignored, role, occurred_at;
  if (!scan.literal(R"({"actor":{"id":)") || !uuid_member(scan, ignored) ||
      !scan.literal(R"(,"role":)") || !scan.plain_string(role) || !is_role(role) ||
      !scan.literal(R"(},"command_id":)") || !uuid_member(scan, ignored) ||
      !scan.literal(R"(,"correlation_id":)") || !uuid_member(scan, ignored) ||
      !scan.literal(R"(,"data":)") || !scan.canonical_object(1))
    return std::nullopt;
  view.hash_input_head = record.substr(0, scan.position());
  if (!scan.literal(R"(,"hash":)") || !scan.plain_string(view.hash)) return std::nullopt;
  view.hash_input_tail = record.substr(scan.position());
  if (!scan.literal(R"(,"id":)") || !uuid_member(scan, view.id) ||
      !scan.literal(R"(,"occurred_at":)") || !scan.plain_string(occurred_at) ||
      !is_canonical_timestamp(occurred_at) || !scan.literal(R"(,"partition":)") ||
      !scan.plain_integer(view.partition) || !scan.literal(R"(,"prev_hash":)") ||
      !scan.plain_string(view.prev_hash) || !scan.literal(R"(,"sequence":)") ||
      !scan.plain_integer(view.sequence) || !scan.literal(R"(,"stream":)") ||
      !scan.plain_string(view.stream) || !scan.literal(R"(,"type":)") ||
      !scan.plain_string(view.type) || !scan.literal(R"(,"version":)") ||
      !scan.plain_integer(view.version) || !scan.literal("}") || !scan.at_end())
    return std::nullopt;
  return view;
}

std::optional<std::string_view> peek_event_type(std::string_view record) {
  // ...,"type":"<type>","version":<digits>}
  if (record.empty() || record.back() != '}') return std::nullopt;
  size_t digits_begin = record.size() - 1;
  while (digits_begin > 0 && is_digit(record[digits_begin - 1])) --digits_begin;
  if (digits_begin == record.size() - 1) return std::nullopt;
  constexpr std::string_view version_member = "\",\"version\":";
  const auto before_version = record.substr(0, digits_begin);
  if (!before_version.ends_with(version_member)) return std::nullopt;
  const auto type_end = before_version.size() - version_member.size();
  constexpr std::string_view type_member = ",\"type\":\"";
  const auto type_member_at = record.rfind(type_member, type_end);
  if (type_member_at == std::string_view::npos) return std::nullopt;
  const auto type_begin = type_member_at + type_member.size();
  const auto type = record.substr(type_begin, type_end - type_begin);
  if (type.empty() ||
      type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._") != std::string_view::npos)
    return std::nullopt;
  // The member before is "stream", a string without quotes or escapes: then the "type" found is
  // the envelope's own, not text inside another member (a record with duplicate keys).
  constexpr std::string_view stream_member = ",\"stream\":\"";
  if (type_member_at == 0 || record[type_member_at - 1] != '"') return std::nullopt;
  const auto stream_member_at = record.rfind(stream_member, type_member_at);
  if (stream_member_at == std::string_view::npos) return std::nullopt;
  const auto stream_begin = stream_member_at + stream_member.size();
  if (stream_begin > type_member_at - 1) return std::nullopt;
  const auto stream = record.substr(stream_begin, type_member_at - 1 - stream_begin);
  if (stream.find_first_of("\"\\") != std::string_view::npos) return std::nullopt;
  // No "type" member anywhere before it (decode_event keeps the first of duplicate keys; data
  // with a member of that name is simply decoded).
  if (record.find("\"type\":") != type_member_at + 1) return std::nullopt;
  return type;
}

}  // namespace counsel
