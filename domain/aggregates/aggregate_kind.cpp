#include "domain/aggregates/aggregate_kind.hpp"

#include "domain/aggregates/access.hpp"
#include "domain/aggregates/account.hpp"
#include "domain/aggregates/counselor.hpp"
#include "domain/aggregates/patient.hpp"
#include "domain/aggregates/room.hpp"

namespace counsel {
namespace {

// The user id a stream key names ("<prefix><uuid>"); nil if it names none, which the
// aggregates' decide turns into a rejection.
UserId stream_owner(std::string_view stream, std::string_view prefix) {
  if (!stream.starts_with(prefix)) return UserId{};
  auto id = Uuid::parse(stream.substr(prefix.size()));
  return id ? UserId{*id} : UserId{};
}

// Glue shared by every aggregate: `A` is the aggregate's namespace-like traits struct.
template <class A>
class TypedKind final : public AggregateKind {
 public:
  struct Holder final : AggregateState {
    typename A::State state;
  };

  std::string_view stream_prefix() const override { return A::prefix; }
  bool handles(std::string_view command_type) const override {
    return A::handles_command(command_type);
  }
  std::unique_ptr<AggregateState> initial(std::string_view stream) const override {
    auto h = std::make_unique<Holder>();
    h->state = A::initial_from_stream(stream);
    return h;
  }
  void evolve(AggregateState& s, const EventEnvelope& e) const override {
    auto data = json::parse(e.data_json, nullptr, 64);
    if (!data) return;
    if (auto event = A::decode(e.type, e.version, *data))
      A::evolve(static_cast<Holder&>(s).state, *event);
  }
  Expected<std::vector<NewEvent>, Rejection> decide(const AggregateState& s,
                                                    const CommandInput& c) const override {
    auto command = A::parse_command(c.type, c.data);
    if (!command) return unexpected(command.error());
    auto events = A::decide(static_cast<const Holder&>(s).state, *command, c.actor, c.now);
    if (!events) return unexpected(events.error());
    std::vector<NewEvent> out;
    out.reserve(events->size());
    for (auto& e : *events) out.push_back(A::encode(e));
    return out;
  }
  std::string result_body(const AggregateState& after, const CommandInput& c) const override {
    return A::view(static_cast<const Holder&>(after).state, c);
  }
};

struct AccountTraits {
  static constexpr std::string_view prefix = "account-";
  using State = account::State;
  static bool handles_command(std::string_view t) { return account::handles_command(t); }
  static State initial_from_stream(std::string_view stream) {
    return account::initial_state(stream_owner(stream, prefix));
  }
  static auto decode(std::string_view t, int v, const json::Value& d) {
    return account::decode(t, v, d);
  }
  static void evolve(State& s, const account::Event& e) { account::evolve(s, e); }
  static auto parse_command(std::string_view t, const json::Value& d) {
    return account::parse_command(t, d);
  }
  static auto decide(const State& s, const account::Command& c, const Actor& a, Timestamp now) {
    return account::decide(s, c, a, now);
  }
  static NewEvent encode(const account::Event& e) { return account::encode(e); }
  static std::string view(const State& s, const CommandInput&) {
    return account::account_view_json(s);
  }
};

struct CounselorTraits {
  static constexpr std::string_view prefix = "counselor-";
  using State = counselor::State;
  static bool handles_command(std::string_view t) { return counselor::handles_command(t); }
  static State initial_from_stream(std::string_view stream) {
    return counselor::initial_state(stream_owner(stream, prefix));
  }
  static auto decode(std::string_view t, int v, const json::Value& d) {
    return counselor::decode(t, v, d);
  }
  static void evolve(State& s, const counselor::Event& e) { counselor::evolve(s, e); }
  static auto parse_command(std::string_view t, const json::Value& d) {
    return counselor::parse_command(t, d);
  }
  static auto decide(const State& s, const counselor::Command& c, const Actor& a, Timestamp now) {
    return counselor::decide(s, c, a, now);
  }
  static NewEvent encode(const counselor::Event& e) { return counselor::encode(e); }
  static std::string view(const State& s, const CommandInput& c) {
    if (c.type == "counselor.update_profile" || c.type == "counselor.verify" ||
        c.type == "counselor.suspend" || c.type == "counselor.reinstate")
      return counselor::profile_view_json(s);
    if (c.type == "counselor.set_availability") return counselor::availability_view_json(s);
    auto sid = json::get_string(c.data, "session_id");
    auto id = sid ? Uuid::parse(*sid) : std::nullopt;
    if (!id) return "null";
    if (c.type == "review.submit") return counselor::review_view_json(s, SessionId{*id});
    return counselor::session_view_json(s, SessionId{*id});
  }
};

// Patient streams are keyed by the seed's "p_xxxxxx" id, not a user id.
struct PatientTraits {
  static constexpr std::string_view prefix = "patient-";
  using State = patient::State;
  static bool handles_command(std::string_view t) { return patient::handles_command(t); }
  static State initial_from_stream(std::string_view stream) {
    if (!stream.starts_with(prefix)) return patient::initial_state("");
    return patient::initial_state(stream.substr(prefix.size()));
  }
  static auto decode(std::string_view t, int v, const json::Value& d) {
    return patient::decode(t, v, d);
  }
  static void evolve(State& s, const patient::Event& e) { patient::evolve(s, e); }
  static auto parse_command(std::string_view t, const json::Value& d) {
    return patient::parse_command(t, d);
  }
  static auto decide(const State& s, const patient::Command& c, const Actor& a, Timestamp now) {
    return patient::decide(s, c, a, now);
  }
  static NewEvent encode(const patient::Event& e) { return patient::encode(e); }
  static std::string view(const State& s, const CommandInput&) {
    return patient::patient_view_json(s);
  }
};

// Room streams are keyed by the room id, one room per client-counsellor pair (the api derives it).
struct RoomTraits {
  static constexpr std::string_view prefix = "room-";
  using State = room::State;
  static bool handles_command(std::string_view t) { return room::handles_command(t); }
  static State initial_from_stream(std::string_view stream) {
    auto id = stream.starts_with(prefix) ? Uuid::parse(stream.substr(prefix.size())) : std::nullopt;
    return room::initial_state(id ? room::RoomId{*id} : room::RoomId{});
  }
  static auto decode(std::string_view t, int v, const json::Value& d) {
    return room::decode(t, v, d);
  }
  static void evolve(State& s, const room::Event& e) { room::evolve(s, e); }
  static auto parse_command(std::string_view t, const json::Value& d) {
    return room::parse_command(t, d);
  }
  static auto decide(const State& s, const room::Command& c, const Actor& a, Timestamp now) {
    return room::decide(s, c, a, now);
  }
  static NewEvent encode(const room::Event& e) { return room::encode(e); }
  static std::string view(const State& s, const CommandInput& c) {
    auto id_in = [&](const char* field) -> std::optional<Uuid> {
      auto text = json::get_string(c.data, field);
      return text ? Uuid::parse(*text) : std::nullopt;
    };
    if (c.type == "chat.send_message") {
      auto id = id_in("message_id");
      return id ? room::message_view_json(s, room::MessageId{*id}) : "null";
    }
    if (c.type == "chat.mark_read") {
      auto id = id_in("user_id");
      return id ? room::read_view_json(s, UserId{*id}) : "null";
    }
    return room::room_view_json(s);
  }
};

// Access streams are keyed by the subject: whose data was read.
struct AccessTraits {
  static constexpr std::string_view prefix = "access-";
  using State = access::State;
  static bool handles_command(std::string_view t) { return access::handles_command(t); }
  static State initial_from_stream(std::string_view stream) {
    return access::initial_state(stream_owner(stream, prefix));
  }
  static auto decode(std::string_view t, int v, const json::Value& d) {
    return access::decode(t, v, d);
  }
  static void evolve(State& s, const access::Event& e) { access::evolve(s, e); }
  static auto parse_command(std::string_view t, const json::Value& d) {
    return access::parse_command(t, d);
  }
  static auto decide(const State& s, const access::Command& c, const Actor& a, Timestamp now) {
    return access::decide(s, c, a, now);
  }
  static NewEvent encode(const access::Event& e) { return access::encode(e); }
  static std::string view(const State& s, const CommandInput&) {
    return access::access_view_json(s);
  }
};

const TypedKind<AccountTraits> kAccount;
const TypedKind<CounselorTraits> kCounselor;
const TypedKind<PatientTraits> kPatient;
const TypedKind<RoomTraits> kRoom;
const TypedKind<AccessTraits> kAccess;

}  // namespace

const std::vector<const AggregateKind*>& all_aggregate_kinds() {
  static const std::vector<const AggregateKind*> kinds{&kAccount, &kCounselor, &kPatient, &kRoom,
                                                       &kAccess};
  return kinds;
}

const AggregateKind* aggregate_kind_for_stream(std::string_view stream) {
  for (auto* k : all_aggregate_kinds())
    if (stream.starts_with(k->stream_prefix())) return k;
  return nullptr;
}

}  // namespace counsel
