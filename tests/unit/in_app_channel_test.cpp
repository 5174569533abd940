// The "in_app" delivery channel: the notification is in the user's list already, so it is
// delivered with or without a pusher; a pusher gets the recipient and the notification as they
// are, and one that throws makes a failed delivery that is not retried.
#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <vector>

#include "api/notification_relay.hpp"

using namespace counsel::api;

namespace {

class RecordingPusher final : public NotificationPusher {
 public:
  void push(const std::string& recipient_id, const std::string& notification_json) override {
    pushed.emplace_back(recipient_id, notification_json);
  }
  std::vector<std::pair<std::string, std::string>> pushed;
};

class BrokenPusher final : public NotificationPusher {
 public:
  void push(const std::string&, const std::string&) override {
    throw std::runtime_error("socket table gone");
  }
};

notify::OutboundMessage notification() {
  notify::OutboundMessage m;
  m.id = "0190a1b2-0000-7000-8000-000000000002";
  m.user_id = "0190a1b2-0000-7000-8000-000000000001";
  m.channel = std::string(notify::kInAppChannel);
  m.template_name = "new_booking_request";
  m.payload_json = R"({"id":"0190a1b2-0000-7000-8000-000000000002","kind":"new_booking_request"})";
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(in_app_channel_test)

BOOST_AUTO_TEST_CASE(without_a_pusher_the_list_alone_delivers) {
  InAppChannel channel;
  const auto result = channel.deliver(notification());
  BOOST_TEST(result.ok);
  BOOST_TEST(result.error.empty());
}

BOOST_AUTO_TEST_CASE(the_pusher_gets_the_recipient_and_the_notification) {
  InAppChannel channel;
  auto pusher = std::make_shared<RecordingPusher>();
  channel.set_pusher(pusher);
  const auto message = notification();
  BOOST_TEST(channel.deliver(message).ok);
  BOOST_TEST_REQUIRE(pusher->pushed.size() == 1u);
  BOOST_TEST(pusher->pushed[0].first == message.user_id);
  BOOST_TEST(pusher->pushed[0].second == message.payload_json);

  channel.set_pusher(nullptr);
  BOOST_TEST(channel.deliver(message).ok);
  BOOST_TEST(pusher->pushed.size() == 1u, "an unset pusher is not called");
}

BOOST_AUTO_TEST_CASE(a_failing_push_is_a_failure_not_retried) {
  InAppChannel channel;
  channel.set_pusher(std::make_shared<BrokenPusher>());
  const auto result = channel.deliver(notification());
  BOOST_TEST(!result.ok);
  BOOST_TEST(!result.is_retryable);
  BOOST_TEST(result.error.find("socket table gone") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
