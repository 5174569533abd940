#pragma once
// The notification outbox (schema notify): a message to a user is written to notify.outbox in
// the same transaction as the change that causes it, and a dispatcher thread in each api
// process delivers it afterwards through the message's channel ("email" now; "sms" and
// "in_app" later). A message therefore goes out only if its change committed, survives a
// crash or a provider outage, and is retried with exponential backoff; every attempt is
// recorded in notify.delivery_attempts.
//
// Delivery is at least once: if a process dies between delivering and recording, the message
// is delivered again with the same id, so a channel should make redelivery harmless (the
// mail-dir channel overwrites its file).
//
// Payloads are personal (addresses, names) and may carry secrets (a reset token): they are
// stored encrypted with the recipient's subject key and never logged. Erasing the key leaves a
// pending message undeliverable, as erasure should.
//
// The payload is a JSON object whose members depend on the channel; the producer renders the
// text. For "email": {to, to_name, subject, text} (to_name may be "").
#include <pqxx/pqxx>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "domain/expected.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "infra/config.hpp"

namespace counsel::crypto {
class SubjectKeyring;
}

namespace counsel::api::notify {

// NOTIFY channel that wakes the dispatchers when a message is enqueued.
inline constexpr const char* kWakeupChannel = "counsel_outbox";
inline constexpr std::string_view kEmailChannel = "email";
// Notifications in the user's in-app list, pushed to their open WebSockets: recorded here by
// the NotificationRelay (api/notification_relay.hpp), never queued for the dispatcher.
inline constexpr std::string_view kInAppChannel = "in_app";

// Queues a message for `user`, encrypting `payload_json` with the user's subject key. It is
// delivered once `tx` commits (never if it rolls back), and the commit wakes the dispatchers.
// Returns the message id.
Uuid enqueue(pqxx::work& tx, const UserId& user, std::string_view channel,
             std::string_view template_name, std::string_view payload_json,
             crypto::SubjectKeyring& keyring);

// One message as a channel sees it, payload decrypted. Never log `payload_json`.
struct OutboundMessage {
  std::string id;  // the outbox row's id: the same on every attempt, so a channel may dedupe
  std::string user_id;
  std::string channel;
  std::string template_name;
  int attempt = 1;  // 1 on the first try
  std::string payload_json;
};

struct DeliveryResult {
  bool ok = false;
  // Why it failed, in words safe to store and log: never the message's content.
  std::string error;
  // A later attempt may succeed (an outage); false for failures no retry fixes (a malformed
  // payload, a bad address).
  bool is_retryable = false;

  static DeliveryResult delivered() { return {true, {}, false}; }
  static DeliveryResult retry_later(std::string why) { return {false, std::move(why), true}; }
  static DeliveryResult give_up(std::string why) { return {false, std::move(why), false}; }
};

// Where a channel's messages go: a file directory now, an email or SMS provider later.
// deliver() runs on the dispatcher thread only, one message at a time.
class DeliveryChannel {
 public:
  virtual ~DeliveryChannel() = default;
  virtual DeliveryResult deliver(const OutboundMessage& message) = 0;
};

// The "email" channel without a mail server: each message becomes one RFC 5322 file
// <id>.eml (mode 0600) in a directory, written to a hidden temporary file and renamed, so a
// reader never sees half a message (like Django's file-based EmailBackend). For development
// and tests; an SMTP or provider channel implements the same interface.
class MailDirChannel final : public DeliveryChannel {
 public:
  static constexpr std::string_view kDefaultFrom = "counsel <no-reply@counsel.invalid>";

  explicit MailDirChannel(std::filesystem::path dir, std::string from = std::string(kDefaultFrom));
  DeliveryResult deliver(const OutboundMessage& message) override;

 private:
  std::filesystem::path dir_;
  std::string from_;
};

// The RFC 5322 text (CRLF line ends) of an email payload {to, to_name, subject, text}, or why
// it cannot be one. Header fields are encoded (RFC 2047) or refused so that no payload can
// inject a header.
Expected<std::string, std::string> format_email(const OutboundMessage& message,
                                                std::string_view from, Timestamp date);

struct DispatcherOptions {
  int batch_size = 50;
  int max_attempts = 8;                        // then it gives up, keeping the last error
  std::chrono::seconds first_retry_delay{10};  // doubled after every further failure
  // How long an idle dispatcher waits for a NOTIFY before it looks again (messages due for a
  // retry, a NOTIFY missed while reconnecting).
  std::chrono::milliseconds idle_poll{1000};
};

// The wait before attempt `failed_attempts + 1`: first_retry_delay * 2^(failed_attempts - 1).
std::chrono::seconds retry_delay(int failed_attempts, std::chrono::seconds first_retry_delay);

class OutboxProbe;

// One per api process: a thread with its own connection that LISTENs on kWakeupChannel and
// delivers due messages of the channels it has, in batches locked with FOR UPDATE SKIP LOCKED,
// so several api processes share the work without delivering a message twice. Messages for a
// channel it lacks stay pending with last_error "no <channel> channel configured".
class OutboxDispatcher {
 public:
  using Channels = std::map<std::string, std::unique_ptr<DeliveryChannel>, std::less<>>;

  OutboxDispatcher(std::string conninfo, crypto::SubjectKeyring& keyring, Channels channels,
                   DispatcherOptions options = {});
  ~OutboxDispatcher();
  OutboxDispatcher(const OutboxDispatcher&) = delete;
  OutboxDispatcher& operator=(const OutboxDispatcher&) = delete;

  void start();
  void stop();

  // One pass on `conn`: attempts up to batch_size due messages and records the outcomes.
  // Returns how many it attempted. The thread calls this; tests may too.
  int dispatch_due(pqxx::connection& conn);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The dispatcher of a serving process, with the channels `config` sets up (--mail-dir: email).
std::unique_ptr<OutboxDispatcher> make_dispatcher(const Config& config,
                                                  crypto::SubjectKeyring& keyring);

}  // namespace counsel::api::notify
