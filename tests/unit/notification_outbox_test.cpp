#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/notification_outbox.hpp"
#include "domain/time.hpp"
#include "infra/random_ids.hpp"

using namespace counsel;
using namespace counsel::api::notify;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kFrom = "counsel <no-reply@counsel.invalid>";

OutboundMessage email(std::string payload_json) {
  OutboundMessage m;
  m.id = new_uuid_v7().str();
  m.user_id = new_uuid_v7().str();
  m.channel = "email";
  m.template_name = "password_reset";
  m.payload_json = std::move(payload_json);
  return m;
}

Timestamp at(std::string_view rfc3339) {
  return *parse_rfc3339(rfc3339);
}

// The header block's lines, unfolded continuation lines kept as they are.
std::vector<std::string> header_lines(const std::string& message) {
  std::vector<std::string> lines;
  const auto end = message.find("\r\n\r\n");
  std::string_view head(message.data(), end);
  while (!head.empty()) {
    const auto crlf = head.find("\r\n");
    lines.emplace_back(head.substr(0, crlf));
    if (crlf == std::string_view::npos) break;
    head.remove_prefix(crlf + 2);
  }
  return lines;
}

// A fresh directory under the system's temporary one, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("counsel-outbox-test-" + random_hex(8));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(notification_outbox_test)

BOOST_AUTO_TEST_CASE(formats_an_rfc5322_message_with_crlf_lines) {
  auto m = email(
      R"({"to":"thandi@example.org","to_name":"Thandi \"T\" M","subject":"Hello","text":"line one\nline two"})");
  auto text = format_email(m, kFrom, at("2026-02-03T14:05:09Z"));
  BOOST_REQUIRE(text);
  const auto headers = header_lines(*text);
  BOOST_TEST(headers[0] == "From: counsel <no-reply@counsel.invalid>");
  BOOST_TEST(headers[1] == R"(To: "Thandi \"T\" M" <thandi@example.org>)");
  BOOST_TEST(headers[2] == "Subject: Hello");
  BOOST_TEST(headers[3] == "Date: Tue, 03 Feb 2026 14:05:09 +0000");
  BOOST_TEST(headers[4] == "Message-ID: <" + m.id + "@counsel.invalid>");
  BOOST_TEST(text->find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  BOOST_TEST(text->ends_with("\r\n\r\nline one\r\nline two\r\n"));
  // No bare LF anywhere.
  for (size_t i = 0; i < text->size(); ++i)
    if ((*text)[i] == '\n') BOOST_TEST_REQUIRE((i > 0 && (*text)[i - 1] == '\r'));
}

BOOST_AUTO_TEST_CASE(payload_text_cannot_inject_headers) {
  auto m = email(
      R"({"to":"a@example.org","to_name":"Eve\r\nBcc: victim@example.org","subject":"Hi\r\nBcc: x@example.org","text":"body"})");
  auto text = format_email(m, kFrom, at("2026-02-03T14:05:09Z"));
  BOOST_REQUIRE(text);
  for (const auto& line : header_lines(*text)) BOOST_TEST(!line.starts_with("Bcc:"));
  BOOST_TEST(text->find("Bcc: victim") != std::string::npos);  // kept as text of the name

  for (std::string_view bad : {R"("a@example.org>\r\nBcc: b@example.org")", R"("no-at-sign")",
                               R"("two@@example.org")", R"("a b@example.org")"}) {
    auto refused = format_email(
        email(R"({"to":)" + std::string(bad) + R"(,"subject":"s","text":"t"})"), kFrom, now_utc());
    BOOST_TEST(!refused, bad);
  }
}

BOOST_AUTO_TEST_CASE(non_ascii_names_and_subjects_are_encoded_words) {
  auto m = email(
      R"({"to":"z@example.org","to_name":"Zoë Nkosi","subject":"Sawubona Zoë","text":"Zoë"})");
  auto text = format_email(m, kFrom, now_utc());
  BOOST_REQUIRE(text);
  const auto headers = header_lines(*text);
  BOOST_TEST(headers[1] == "To: =?UTF-8?B?Wm/DqyBOa29zaQ==?= <z@example.org>");
  BOOST_TEST(headers[2] == "Subject: =?UTF-8?B?U2F3dWJvbmEgWm/Dqw==?=");
  // A long name is folded into several words, each within RFC 2047's 75 characters.
  std::string long_name;
  for (int i = 0; i < 30; ++i) long_name += "ë";
  auto folded = format_email(
      email(R"({"to":"z@example.org","to_name":")" + long_name + R"(","subject":"s","text":"t"})"),
      kFrom, now_utc());
  BOOST_REQUIRE(folded);
  for (const auto& line : header_lines(*folded)) BOOST_TEST(line.size() <= 78u, line);
}

BOOST_AUTO_TEST_CASE(malformed_payloads_are_refused) {
  for (std::string_view payload :
       {"not json", "[]", R"({"subject":"s","text":"t"})", R"({"to":"a@example.org","text":"t"})",
        R"({"to":"a@example.org","subject":"s"})"}) {
    BOOST_TEST(!format_email(email(std::string(payload)), kFrom, now_utc()), payload);
  }
}

BOOST_AUTO_TEST_CASE(mail_dir_writes_one_private_file_per_message) {
  TempDir dir;
  MailDirChannel channel(dir.path / "mail");
  auto m = email(R"({"to":"a@example.org","subject":"s","text":"t"})");
  auto result = channel.deliver(m);
  BOOST_TEST(result.ok);
  const auto file = dir.path / "mail" / (m.id + ".eml");
  BOOST_REQUIRE(std::filesystem::exists(file));
  struct stat st {};
  BOOST_REQUIRE(::stat(file.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(read_all(file).starts_with("From: "));

  // Redelivery (at least once) overwrites the same file; no temporary file stays behind.
  BOOST_TEST(channel.deliver(m).ok);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path / "mail"))
    ++entries;
  BOOST_TEST(entries == 1u);
}

BOOST_AUTO_TEST_CASE(mail_dir_failures_say_whether_to_retry) {
  TempDir dir;
  std::ofstream(dir.path / "a-file") << "x";
  MailDirChannel blocked(dir.path / "a-file" / "mail");
  auto m = email(R"({"to":"a@example.org","subject":"s","text":"t"})");
  auto io = blocked.deliver(m);
  BOOST_TEST(!io.ok);
  BOOST_TEST(io.is_retryable);  // an operator can fix the directory
  BOOST_TEST(io.error.find("cannot create the mail directory") != std::string::npos);

  MailDirChannel channel(dir.path / "mail");
  auto bad = channel.deliver(email("{}"));
  BOOST_TEST(!bad.ok);
  BOOST_TEST(!bad.is_retryable);  // no retry fixes a malformed payload
  auto escaping = email(R"({"to":"a@example.org","subject":"s","text":"t"})");
  escaping.id = "../escape";
  BOOST_TEST(!channel.deliver(escaping).ok);
  BOOST_TEST(!std::filesystem::exists(dir.path / "escape.eml"));
}

BOOST_AUTO_TEST_CASE(retries_back_off_exponentially) {
  BOOST_TEST(retry_delay(1, 10s).count() == 10);
  BOOST_TEST(retry_delay(2, 10s).count() == 20);
  BOOST_TEST(retry_delay(7, 10s).count() == 640);
}

BOOST_AUTO_TEST_SUITE_END()
