#include "api/notification_outbox.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "api/outbox_probe.hpp"
#include "domain/json.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/logging.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/listen_hub.hpp"
#include "infra/pg/stop_signal.hpp"
#include "infra/random_ids.hpp"
#include "infra/thread_name.hpp"
#include "projections/checkpoints.hpp"

namespace counsel::api::notify {
namespace {

constexpr const char* kComponent = "outbox";

// ---- RFC 5322 formatting ----

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Control characters (CR and LF above all) never reach a header: they would start a new one.
std::string without_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out.push_back(c);
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// RFC 2047 encoded words for non-ASCII text, folded onto continuation lines. Each word holds at
// most 45 bytes of whole UTF-8 characters, so it stays under the 75-character limit.
std::string encoded_words(std::string_view utf8) {
  std::string out;
  size_t start = 0;
  while (start < utf8.size()) {
    size_t end = std::min(start + 45, utf8.size());
    // Back up to a character boundary (continuation bytes are 10xxxxxx).
    while (end < utf8.size() && end > start &&
           (static_cast<unsigned char>(utf8[end]) & 0xC0) == 0x80)
      --end;
    if (end == start) end = std::min(start + 45, utf8.size());  // not UTF-8: split anyway
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(utf8.substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

// Unstructured header text (Subject).
std::string header_text(std::string_view text) {
  const std::string clean = without_controls(text);
  return is_printable_ascii(clean) ? clean : encoded_words(clean);
}

// The display-name phrase of an address: a quoted string when ASCII, else encoded words.
std::string display_name_phrase(std::string_view name) {
  const std::string clean = without_controls(name);
  if (!is_printable_ascii(clean)) return encoded_words(clean);
  std::string out = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// An addr-spec we can put between angle brackets without it meaning anything else.
bool safe_address(std::string_view a) {
  if (a.size() < 3 || a.size() > 254 || !is_printable_ascii(a)) return false;
  const auto at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string_view::npos)
    return false;
  return a.find_first_of(" <>()[],;:\"\\") == std::string_view::npos;
}

// "Tue, 03 Feb 2026 14:05:09 +0000", spelled out so that no locale changes it.
std::string rfc5322_date(Timestamp t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// Lines end in CRLF in a message, whatever the producer wrote.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

// ---- files ----

std::string errno_text(int error) {
  return std::strerror(error);
}

// Writes `content` to `path` (mode 0600) and flushes it to disk; an errno on failure.
int write_private_file(const std::filesystem::path& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno;
  int error = 0;
  // A file left by an earlier attempt keeps its mode through O_TRUNC: set it again.
  if (::fchmod(fd, 0600) != 0) error = errno;
  size_t written = 0;
  while (error == 0 && written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno != EINTR) error = errno;
    } else {
      written += static_cast<size_t>(n);
    }
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  return error;
}

// ---- the dispatcher's SQL ----

struct DueMessage {
  OutboundMessage message;
  std::string sealed_payload;
};

}  // namespace

// ---- enqueue ----

Uuid enqueue(pqxx::work& tx, const UserId& user, std::string_view channel,
             std::string_view template_name, std::string_view payload_json,
             crypto::SubjectKeyring& keyring) {
  const Uuid id = new_uuid_v7();
  const std::string subject = user.value().str();
  const auto key = keyring.get_or_create(user.value());
  tx.exec_params0(
      "INSERT INTO notify.outbox (id, user_id, channel, template, payload)"
      " VALUES ($1::uuid, $2::uuid, $3, $4, $5)",
      id.str(), subject, std::string(channel), std::string(template_name),
      crypto::encrypt_field(key, payload_json, subject));
  // Delivered by PostgreSQL at commit, so no dispatcher looks before the row is visible.
  tx.exec0(std::string("NOTIFY ") + kWakeupChannel);
  return id;
}

// ---- email ----

Expected<std::string, std::string> format_email(const OutboundMessage& message,
                                                std::string_view from, Timestamp date) {
  auto payload = json::parse(message.payload_json);
  if (!payload || !payload->IsObject())
    return unexpected(std::string("the email payload is not a JSON object"));
  const auto to = json::get_string(*payload, "to");
  const auto to_name = json::get_string(*payload, "to_name").value_or("");
  const auto subject = json::get_string(*payload, "subject");
  const auto text = json::get_string(*payload, "text");
  if (!to || !subject || !text)
    return unexpected(std::string("the email payload lacks to, subject or text"));
  if (!safe_address(*to)) return unexpected(std::string("the recipient address is not usable"));

  std::string out;
  out.reserve(text->size() + 512);
  out += "From: " + std::string(from) + "\r\n";
  out += "To: ";
  if (!to_name.empty()) out += display_name_phrase(to_name) + " ";
  out += "<" + std::string(*to) + ">\r\n";
  out += "Subject: " + header_text(*subject) + "\r\n";
  out += "Date: " + rfc5322_date(date) + "\r\n";
  out += "Message-ID: <" + without_controls(message.id) + "@counsel.invalid>\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\n";
  out += crlf_lines(*text);
  return out;
}

MailDirChannel::MailDirChannel(std::filesystem::path dir, std::string from)
    : dir_(std::move(dir)), from_(std::move(from)) {}

DeliveryResult MailDirChannel::deliver(const OutboundMessage& message) {
  auto text = format_email(message, from_, now_utc());
  if (!text) return DeliveryResult::give_up(text.error());
  // The id names the file, so it must not name anything outside the directory.
  if (!Uuid::parse(message.id)) return DeliveryResult::give_up("the message id is not a UUID");

  std::error_code error;
  if (std::filesystem::create_directories(dir_, error)) {
    // The messages are secret (reset tokens): only this user may list them.
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, error);
  }
  if (error)
    return DeliveryResult::retry_later("cannot create the mail directory " + dir_.string() + ": " +
                                       error.message());
  const auto final_path = dir_ / (message.id + ".eml");
  // Hidden and not *.eml: readers of the directory never pick up half a message.
  const auto temporary_path = dir_ / ("." + message.id + ".eml.tmp");
  if (const int e = write_private_file(temporary_path, *text); e != 0) {
    ::unlink(temporary_path.c_str());
    return DeliveryResult::retry_later("cannot write " + temporary_path.string() + ": " +
                                       errno_text(e));
  }
  if (::rename(temporary_path.c_str(), final_path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temporary_path.c_str());
    return DeliveryResult::retry_later("cannot rename to " + final_path.string() + ": " +
                                       errno_text(e));
  }
  return DeliveryResult::delivered();
}

// ---- dispatcher ----

std::chrono::seconds retry_delay(int failed_attempts, std::chrono::seconds first_retry_delay) {
  const int doublings = std::clamp(failed_attempts - 1, 0, 20);
  return first_retry_delay * (int64_t{1} << doublings);
}

struct OutboxDispatcher::State {
  std::string conninfo;
  crypto::SubjectKeyring& keyring;
  Channels channels;
  DispatcherOptions options;
  std::string channel_names;  // a text[] literal of the channels we deliver
  OutboxProbe probe;
  std::atomic<bool> running{false};
  pg::StopSignal stop;
  // Raised by an enqueue's NOTIFY (through the process's ListenHub), by the hub listening anew
  // (what was announced meanwhile is unknown) and by stop().
  pg::StopSignal nudge;
  std::unique_ptr<pg::ListenHub::Subscription> listening;
  std::thread thread;

  State(std::string conninfo_, crypto::SubjectKeyring& keyring_, Channels channels_,
        DispatcherOptions options_)
      : conninfo(std::move(conninfo_)),
        keyring(keyring_),
        channels(std::move(channels_)),
        options(options_) {
    std::vector<std::string> names;
    for (const auto& [name, channel] : channels) names.push_back(name);
    channel_names = projections::text_array_literal(names);
  }

  // Messages whose channel no process here can deliver say so, instead of waiting silently.
  // Only untried ones: a message another process has tried keeps that process's error. Rows
  // locked by another dispatcher are skipped rather than waited for.
  void note_undeliverable(pqxx::connection& conn) {
    pqxx::work tx(conn, "outbox-undeliverable");
    tx.exec_params0(
        "UPDATE notify.outbox SET last_error = 'no ' || channel || ' channel configured'"
        " WHERE id IN (SELECT id FROM notify.outbox"
        "  WHERE delivered_at IS NULL AND gave_up_at IS NULL AND attempts = 0"
        "  AND NOT (channel = ANY($1::text[]))"
        "  AND last_error IS DISTINCT FROM 'no ' || channel || ' channel configured'"
        "  FOR UPDATE SKIP LOCKED)",
        channel_names);
    tx.commit();
  }

  int64_t count_pending(pqxx::connection& conn) {
    pqxx::read_transaction tx(conn, "outbox-pending");
    return tx
        .exec(
            "SELECT count(*) FROM notify.outbox WHERE delivered_at IS NULL"
            " AND gave_up_at IS NULL")[0][0]
        .as<int64_t>();
  }

  // Decrypts and hands the message to its channel. Exceptions are failures like any other:
  // one bad message must not stop the batch.
  DeliveryResult attempt(DueMessage& due) {
    try {
      const auto user = Uuid::parse(due.message.user_id);
      const auto key = user ? keyring.find(*user) : std::nullopt;
      if (!key) return DeliveryResult::give_up("the recipient's subject key is gone (erased)");
      auto payload = crypto::decrypt_field(*key, due.sealed_payload, due.message.user_id);
      if (!payload) return DeliveryResult::give_up("the payload cannot be decrypted");
      due.message.payload_json = std::move(*payload);
      auto it = channels.find(due.message.channel);
      if (it == channels.end())  // not selected by the query; kept for safety
        return DeliveryResult::retry_later("no " + due.message.channel + " channel configured");
      return it->second->deliver(due.message);
    } catch (const std::exception& e) {
      return DeliveryResult::retry_later(std::string("delivery failed: ") + e.what());
    }
  }

  void record(pqxx::work& tx, const OutboundMessage& m, const DeliveryResult& result) {
    const int attempt = m.attempt;
    const char* outcome = "delivered";
    if (result.ok) {
      tx.exec_params0(
          "UPDATE notify.outbox SET attempts = $2, delivered_at = now(), last_error = NULL"
          " WHERE id = $1::uuid",
          m.id, attempt);
    } else if (result.is_retryable && attempt < options.max_attempts) {
      outcome = "failed";
      tx.exec_params0(
          "UPDATE notify.outbox SET attempts = $2, last_error = $3,"
          " next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1::uuid",
          m.id, attempt, result.error,
          static_cast<int64_t>(retry_delay(attempt, options.first_retry_delay).count()));
    } else {
      outcome = "gave_up";
      tx.exec_params0(
          "UPDATE notify.outbox SET attempts = $2, last_error = $3, gave_up_at = now()"
          " WHERE id = $1::uuid",
          m.id, attempt, result.error);
    }
    tx.exec_params0(
        "INSERT INTO notify.delivery_attempts (outbox_id, attempt, ok, error)"
        " VALUES ($1::uuid, $2, $3, NULLIF($4, ''))",
        m.id, attempt, result.ok, result.ok ? std::string() : result.error);
    probe.attempt(m.channel, outcome);
    // Ids, channel and template only: the payload and the recipient stay out of the logs.
    const std::string what = "message " + m.id + " (" + m.channel + ", " + m.template_name +
                             ", attempt " + std::to_string(attempt) + ")";
    if (std::string_view(outcome) == "failed") {
      logging::warn(kComponent, what + " failed, will retry: " + result.error);
    } else if (std::string_view(outcome) == "gave_up") {
      logging::error(kComponent, what + " not delivered, giving up: " + result.error);
    }
  }

  int dispatch_due(pqxx::connection& conn) {
    if (channels.empty()) return 0;
    pqxx::work tx(conn, "outbox-dispatch");
    const auto rows = tx.exec_params(
        "SELECT id::text, user_id::text, channel, template, payload, attempts"
        " FROM notify.outbox"
        " WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()"
        " AND channel = ANY($1::text[])"
        " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        channel_names, options.batch_size);
    for (const auto& row : rows) {
      DueMessage due;
      due.message.id = row[0].c_str();
      due.message.user_id = row[1].c_str();
      due.message.channel = row[2].c_str();
      due.message.template_name = row[3].c_str();
      due.sealed_payload = row[4].c_str();
      due.message.attempt = row[5].as<int>() + 1;
      const DeliveryResult result = attempt(due);
      record(tx, due.message, result);
    }
    // Until this commits the rows stay locked: no other dispatcher delivers them meanwhile. A
    // crash before it means they are delivered again (at least once).
    tx.commit();
    return static_cast<int>(rows.size());
  }

  // Sleeps until a NOTIFY, the idle poll interval, or stop(), whichever comes first.
  void idle() {
    if (running && nudge.sleep_for(options.idle_poll) && running) nudge.clear();
  }

  void pause(std::chrono::milliseconds how_long) { stop.sleep_for(how_long); }

  void run() {
    while (running) {
      try {
        auto conn = pg::open_connection(conninfo);
        while (running) {
          note_undeliverable(*conn);
          if (dispatch_due(*conn) >= options.batch_size) continue;  // more may be due
          probe.pending(count_pending(*conn));
          idle();
        }
      } catch (const std::exception& e) {
        logging::warn(kComponent, std::string("dispatching notifications failed: ") + e.what());
        pause(std::chrono::seconds(1));
      }
    }
  }
};

OutboxDispatcher::OutboxDispatcher(std::string conninfo, crypto::SubjectKeyring& keyring,
                                   Channels channels, DispatcherOptions options)
    : state_(std::make_unique<State>(std::move(conninfo), keyring, std::move(channels), options)) {}

OutboxDispatcher::~OutboxDispatcher() {
  stop();
}

void OutboxDispatcher::start() {
  if (state_->running.exchange(true)) return;
  state_->stop.clear();
  state_->nudge.clear();
  // The subscription's LISTEN may come after the first pass: its on_listening nudges the
  // dispatcher once it is in place, so a message enqueued in between is still dispatched.
  auto* state = state_.get();
  state_->listening =
      pg::ListenHub::shared_for(state_->conninfo)
          ->subscribe(
              kWakeupChannel, [state](const std::vector<std::string>&) { state->nudge.raise(); },
              [state] { state->nudge.raise(); });
  if (!state_->channels.contains(kEmailChannel))
    logging::warn(kComponent,
                  "no email channel (--mail-dir / COUNSEL_MAIL_DIR): emails stay queued in "
                  "notify.outbox");
  state_->thread = std::thread([this] {
    name_this_thread("outbox");
    state_->run();
  });
}

void OutboxDispatcher::stop() {
  state_->listening.reset();
  state_->running = false;
  state_->stop.raise();
  state_->nudge.raise();
  if (state_->thread.joinable()) state_->thread.join();
}

int OutboxDispatcher::dispatch_due(pqxx::connection& conn) {
  return state_->dispatch_due(conn);
}

std::unique_ptr<OutboxDispatcher> make_dispatcher(const Config& config,
                                                  crypto::SubjectKeyring& keyring) {
  OutboxDispatcher::Channels channels;
  if (!config.mail_dir.empty())
    channels.emplace(std::string(kEmailChannel), std::make_unique<MailDirChannel>(config.mail_dir));
  return std::make_unique<OutboxDispatcher>(config.db, keyring, std::move(channels));
}

}  // namespace counsel::api::notify
