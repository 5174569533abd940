#include "tests/bench/seed/command_factory.hpp"

#include <cstdio>
#include <stdexcept>

#include "domain/aggregates/patient.hpp"
#include "domain/json.hpp"

namespace counsel::bench {
namespace {

using json::key;
using json::write_string;

const std::vector<std::string> kTopics = {
    "Feeling anxious at work",         "Trouble sleeping since the move",
    "Grief after losing my father",    "Panic attacks before exams",
    "Arguments with my partner",       "Low mood for a few weeks",
    "Stress about money and family",   "Follow-up on last session",
    "Drinking more than I would like", "Struggling with my teenager",
};
const std::vector<std::string> kCancelReasons = {
    "Something came up at work", "I am not feeling well", "Family emergency",
    "Need to reschedule",        "Transport problems",    "",
};
const std::vector<std::string> kDeclineReasons = {
    "Fully booked that week", "Outside my area of practice", "Please book a longer session", ""};
const std::vector<std::string> kReviewComments = {
    "Really listened and helped me see things differently.",
    "Kind and practical. I left with tools I could use.",
    "Good session, though it felt a bit rushed.",
    "Felt safe to talk in my own language. Thank you.",
    "Helpful, but the video kept dropping.",
    "Exactly what I needed this week.",
};
const std::vector<std::string> kClientLines = {
    "Hi, thank you for seeing me last time.",
    "I tried the breathing exercise, it helped a little.",
    "This week has been hard again.",
    "Can we talk about work stress on Thursday?",
    "I slept better for the first time in weeks.",
    "Sorry for the late message.",
    "I wrote down the thoughts like you suggested.",
    "Is it normal to feel worse before it gets better?",
};
const std::vector<std::string> kCounselorLines = {
    "Thank you for letting me know. How are you feeling today?",
    "That sounds really difficult. We can go through it next session.",
    "Well done for trying the exercise. Keep a note of when it helps.",
    "Remember the crisis line if things feel unmanageable: 0800 567 567.",
    "Yes, that is very common. Let's talk about it on Thursday.",
    "I have sent you a worksheet to look at before we meet.",
};
const std::vector<std::string> kAllergies = {"None known", "Penicillin", "Sertraline 50 mg daily",
                                             "Hay fever; antihistamines", "Asthma (inhaler)"};
const std::vector<std::string> kSexes = {"F", "M", "F", "M", "O", "P"};
const std::vector<std::string> kAboutNotes = {"Prefers morning sessions.", "Student.",
                                              "Works shifts; flexible times.", ""};

std::string text_of(rapidjson::StringBuffer& sb) {
  return {sb.GetString(), sb.GetSize()};
}

std::string account_stream_of(const UserId& id) {
  return account_stream(id);
}

}  // namespace

std::string patient_phone(uint32_t client) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "+276%08u", client);
  return buf;
}

CommandFactory::CommandFactory(const Population& people, const HistoryPlan& plan,
                               std::string password_hash, uint64_t seed)
    : people_(people), plan_(plan), password_hash_(std::move(password_hash)), random_(seed) {}

// api/handler_support.cpp make_command without an Idempotency-Key: fresh ids, issued now.
commands::Command CommandFactory::command(Timestamp at, Actor actor, std::string type,
                                          std::string stream) {
  commands::Command c;
  c.id = CommandId{random_.uuid_v7_at(at)};
  c.type = std::move(type);
  c.stream = std::move(stream);
  c.actor = actor;
  c.correlation_id = CorrelationId{random_.uuid_v7_at(at)};
  c.issued_at = at;
  return c;
}

Actor CommandFactory::counselor_actor(uint32_t c) const {
  return Actor{people_.counselors[c].id, Role::counselor};
}

Actor CommandFactory::client_actor(uint32_t k) const {
  return Actor{people_.clients[k].id, Role::client};
}

commands::Command CommandFactory::make(const Action& action) {
  const Timestamp at = action.at;
  switch (action.kind) {
    case ActionKind::register_counselor: {
      const auto& c = people_.counselors[action.a];
      return registration(at, c.id, c.email, c.display_name, c.key, Role::counselor);
    }
    case ActionKind::update_counselor_profile: {
      // api/handlers/counselor_handlers.cpp put_profile: the body as sent.
      const auto& c = people_.counselors[action.a];
      auto cmd = command(at, counselor_actor(action.a), "counselor.update_profile",
                         counselor_stream(c.id));
      cmd.data_json = c.profile_body;
      return cmd;
    }
    case ActionKind::set_availability: {
      const auto& c = people_.counselors[action.a];
      auto cmd = command(at, counselor_actor(action.a), "counselor.set_availability",
                         counselor_stream(c.id));
      cmd.data_json = c.availability_body;
      return cmd;
    }
    case ActionKind::verify_counselor: {
      // api/cli/demo_data.cpp verify_demo_counselors: an admin decision, recorded as the system.
      auto cmd = command(at, Actor{UserId{}, Role::system}, "counselor.verify",
                         counselor_stream(people_.counselors[action.a].id));
      cmd.data_json = "{}";
      return cmd;
    }
    case ActionKind::register_client: {
      const auto& k = people_.clients[action.a];
      return registration(at, k.id, k.email, k.display_name, k.key, Role::client);
    }
    case ActionKind::update_client_profile:
      return client_profile(at, action.a);
    case ActionKind::login:
      return login(at, action);
    case ActionKind::request_session:
      return session_request(at, action.a);
    case ActionKind::confirm_session:
    case ActionKind::decline_session:
    case ActionKind::cancel_session:
    case ActionKind::complete_session:
    case ActionKind::mark_no_show:
      return session_change(at, action);
    case ActionKind::submit_review:
      return review(at, action);
    case ActionKind::open_room:
      return room_open(at, action.a);
    case ActionKind::send_message:
      return message(at, action.a);
    case ActionKind::mark_read:
      return read_marker(at, action);
    case ActionKind::create_patient:
      return patient_create(at, action.a);
    case ActionKind::add_patient_tag:
    case ActionKind::update_patient_wallet:
    case ActionKind::add_patient_session:
      return patient_action(at, action);
  }
  throw std::logic_error("unknown action");
}

// api/account_registration.cpp register_account: a self-registration.
commands::Command CommandFactory::registration(Timestamp at, const UserId& id,
                                               const std::string& email,
                                               const std::string& display_name,
                                               const crypto::SubjectKey& subject_key, Role role) {
  const std::string subject = id.value().str();
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "display_name");
  write_string(w, crypto::encrypt_field(subject_key, display_name, subject));
  key(w, "email");
  write_string(w, crypto::encrypt_field(subject_key, email, subject));
  key(w, "email_hash");
  write_string(w, crypto::email_hash(email));
  key(w, "password_hash");
  write_string(w, crypto::encrypt_field(subject_key, password_hash_, subject));
  key(w, "role");
  write_string(w, to_string(role));
  key(w, "user_id");
  write_string(w, subject);
  w.EndObject();
  auto cmd = command(at, Actor{id, role}, "account.register", account_stream_of(id));
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/handlers/profile_handlers.cpp profile_command_data.
commands::Command CommandFactory::client_profile(Timestamp at, uint32_t client) {
  const auto& k = people_.clients[client];
  const auto& p = k.profile;
  const std::string subject = k.id.value().str();
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "user_id");
  write_string(w, subject);
  for (auto [field, clear] :
       {std::pair{"picture_url", &p.picture_url}, std::pair{"bio", &p.bio},
        std::pair{"address", &p.address}, std::pair{"preferences", &p.preferences},
        std::pair{"alias", &p.alias}}) {
    key(w, field);
    write_string(w, clear->empty() ? "" : crypto::encrypt_field(k.key, *clear, subject));
  }
  key(w, "preferred_language");
  write_string(w, p.preferred_language);
  key(w, "anonymous");
  w.Bool(p.anonymous);
  w.EndObject();
  auto cmd =
      command(at, client_actor(client), "account.update_client_profile", account_stream_of(k.id));
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/handlers/auth_handlers.cpp record_sign_in: a successful sign-in, by the account holder.
commands::Command CommandFactory::login(Timestamp at, const Action& action) {
  const bool counselor = action.flag == 1;
  const UserId id = counselor ? people_.counselors[action.a].id : people_.clients[action.a].id;
  auto cmd = command(at, counselor ? counselor_actor(action.a) : client_actor(action.a),
                     "account.record_login", account_stream_of(id));
  cmd.data_json = R"({"second_factor":"none","user_id":")" + id.value().str() + "\"}";
  return cmd;
}

// api/handlers/session_handlers.cpp book: the body {counselor_id, start, duration_minutes,
// topic, mode} without counselor_id and topic, then the sealed topic, client_id and session_id
// (= the command id).
commands::Command CommandFactory::session_request(Timestamp at, uint32_t s) {
  const auto& session = plan_.sessions[s];
  const auto& k = people_.clients[session.client];
  const std::string client = k.id.value().str();
  const std::string topic =
      random_.chance(0.6) ? crypto::encrypt_field(k.key, random_.pick(kTopics), client) : "";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "start");
  write_string(w, format_rfc3339(session.start));
  key(w, "duration_minutes");
  w.Int(session.minutes);
  key(w, "mode");
  write_string(w, counselor::to_string(session.mode));
  key(w, "topic");
  write_string(w, topic);
  key(w, "client_id");
  write_string(w, client);
  key(w, "session_id");
  write_string(w, session.id.value().str());
  w.EndObject();
  auto cmd = command(at, client_actor(session.client), "session.request",
                     counselor_stream(people_.counselors[session.counselor].id));
  cmd.id = CommandId{session.id.value()};
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/handlers/session_handlers.cpp change_session: {reason? (sealed), session_id}.
commands::Command CommandFactory::session_change(Timestamp at, const Action& action) {
  const auto& session = plan_.sessions[action.a];
  std::string type, reason;
  Actor actor = counselor_actor(session.counselor);
  switch (action.kind) {
    case ActionKind::confirm_session:
      type = "session.confirm";
      break;
    case ActionKind::decline_session:
      type = "session.decline";
      reason = random_.pick(kDeclineReasons);
      break;
    case ActionKind::complete_session:
      type = "session.complete";
      break;
    case ActionKind::mark_no_show:
      type = "session.mark_no_show";
      break;
    default:
      type = "session.cancel";
      reason = random_.pick(kCancelReasons);
      if (action.flag == 0) actor = client_actor(session.client);
      break;
  }
  // Whoever gives it, the reason travels sealed with the session client's key.
  if (!reason.empty()) {
    const auto& k = people_.clients[session.client];
    reason = crypto::encrypt_field(k.key, reason, k.id.value().str());
  }
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  if (!reason.empty()) {
    key(w, "reason");
    write_string(w, reason);
  }
  key(w, "session_id");
  write_string(w, session.id.value().str());
  w.EndObject();
  auto cmd = command(at, actor, std::move(type),
                     counselor_stream(people_.counselors[session.counselor].id));
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/handlers/review_handlers.cpp submit_data: the review id is the command id.
commands::Command CommandFactory::review(Timestamp at, const Action& action) {
  const auto& session = plan_.sessions[action.a];
  const auto& k = people_.clients[session.client];
  auto cmd = command(at, client_actor(session.client), "review.submit",
                     counselor_stream(people_.counselors[session.counselor].id));
  const std::string comment =
      action.flag ? crypto::encrypt_field(k.key, random_.pick(kReviewComments), k.id.value().str())
                  : "";
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "comment");
  write_string(w, comment);
  key(w, "rating");
  w.Int(static_cast<int>(action.b));
  key(w, "review_id");
  write_string(w, cmd.id.value().str());
  key(w, "session_id");
  write_string(w, session.id.value().str());
  w.EndObject();
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/chat_service.cpp open_room: by the client from a booking ({session_id}), or by the
// counsellor reaching out ({participant_id}, no session).
commands::Command CommandFactory::room_open(Timestamp at, uint32_t r) {
  const auto& room = plan_.rooms[r];
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "room_id");
  write_string(w, room.id.value().str());
  key(w, "participants");
  w.StartArray();
  write_string(w, people_.clients[room.client].id.value().str());
  write_string(w, people_.counselors[room.counselor].id.value().str());
  w.EndArray();
  key(w, "session_id");
  write_string(w, room.session ? plan_.sessions[*room.session].id.value().str() : "");
  w.EndObject();
  auto cmd = command(
      at, room.opened_by_client ? client_actor(room.client) : counselor_actor(room.counselor),
      "room.open", room::room_stream(room.id));
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/chat_service.cpp send_message: the text sealed with the sender's key.
commands::Command CommandFactory::message(Timestamp at, uint32_t m) {
  const auto& planned = plan_.messages[m];
  const auto& room = plan_.rooms[planned.room];
  const Actor sender =
      planned.from_counselor ? counselor_actor(room.counselor) : client_actor(room.client);
  const crypto::SubjectKey& key_of_sender = planned.from_counselor
                                                ? people_.counselors[room.counselor].key
                                                : people_.clients[room.client].key;
  const std::string sender_id = sender.id.value().str();
  const std::string& text =
      planned.from_counselor ? random_.pick(kCounselorLines) : random_.pick(kClientLines);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  key(w, "message_id");
  write_string(w, planned.id.value().str());
  key(w, "sender_id");
  write_string(w, sender_id);
  key(w, "content");
  write_string(w, crypto::encrypt_field(key_of_sender, text, sender_id));
  key(w, "message_type");
  write_string(w, "text");
  w.EndObject();
  auto cmd = command(at, sender, "chat.send_message", room::room_stream(room.id));
  cmd.data_json = text_of(sb);
  return cmd;
}

// api/chat_service.cpp mark_read.
commands::Command CommandFactory::read_marker(Timestamp at, const Action& action) {
  const auto& room = plan_.rooms[action.a];
  const Actor reader = action.flag ? counselor_actor(room.counselor) : client_actor(room.client);
  auto cmd = command(at, reader, "chat.mark_read", room::room_stream(room.id));
  cmd.data_json = R"({"user_id":")" + reader.id.value().str() + R"(","up_to":")" +
                  plan_.messages[action.b].id.value().str() + "\"}";
  return cmd;
}

// api/handlers/patient_handlers.cpp create_patient: the client's own record, validated by the
// domain's clear-text rules, then sealed as seal() does (the shared hash stands in for hashing
// the record's password).
commands::Command CommandFactory::patient_create(Timestamp at, uint32_t p) {
  const auto& planned = plan_.patients[p];
  const auto& k = people_.clients[planned.client];
  const auto space = k.display_name.find(' ');
  json::Document body;
  body.SetObject();
  auto& a = body.GetAllocator();
  auto put = [&](const char* name, const std::string& value) {
    body.AddMember(json::Value(name, a), json::Value(value.c_str(), a), a);
  };
  put("first_name", k.display_name.substr(0, space));
  put("last_name", k.display_name.substr(space + 1));
  put("phone_no", patient_phone(planned.client));
  put("email", k.email);
  if (random_.chance(0.3)) {
    char ssn[16];
    std::snprintf(ssn, sizeof ssn, "%03d-%02d-%04d", static_cast<int>(random_.between(100, 899)),
                  static_cast<int>(random_.between(10, 99)),
                  static_cast<int>(random_.between(1000, 9999)));
    put("ssn", ssn);
  }
  if (!k.profile.address.empty()) put("address", k.profile.address);
  put("allergies_and_medication", random_.pick(kAllergies));
  char dob[16];
  std::snprintf(dob, sizeof dob, "%04d-%02d-%02d", static_cast<int>(random_.between(1955, 2006)),
                static_cast<int>(random_.between(1, 12)), static_cast<int>(random_.between(1, 28)));
  put("date_of_birth", dob);
  put("sex", random_.pick(kSexes));
  put("about_note", random_.pick(kAboutNotes));
  put("password", kPassword);
  const auto today = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(at)};
  auto input = patient::validate_input(body, patient::InputMode::create, today);
  if (!input)
    throw std::logic_error("generated patient record is invalid: " + input.error().message);

  const std::string subject = k.id.value().str();
  patient::Details sealed;
  sealed.tags = std::move(input->details.tags);
  sealed.sessions = std::move(input->details.sessions);
  sealed.wallet_balance_cents = input->details.wallet_balance_cents;
  for (auto& [name, value] : input->details.text) {
    if (name == "password") {
      sealed.text["password_hash"] = crypto::encrypt_field(k.key, password_hash_, subject);
      continue;
    }
    bool sensitive = false;
    for (const auto& f : patient::text_fields())
      if (name == f.name) sensitive = f.sensitive;
    sealed.text[name] =
        sensitive && !value.empty() ? crypto::encrypt_field(k.key, value, subject) : value;
  }
  json::Document doc;
  doc.SetObject();
  patient::write_details(doc, sealed);
  auto& da = doc.GetAllocator();
  doc.AddMember("owner_id", json::Value(subject.c_str(), da), da);
  doc.AddMember("patient_id", json::Value(planned.id.c_str(), da), da);
  auto cmd = command(at, client_actor(planned.client), "patient.create",
                     patient::patient_stream(planned.id));
  cmd.data_json = json::to_string(doc);
  return cmd;
}

// api/handlers/patient_handlers.cpp tag_data, wallet_data and session_data.
commands::Command CommandFactory::patient_action(Timestamp at, const Action& action) {
  const auto& planned = plan_.patients[action.a];
  const std::string stream = patient::patient_stream(planned.id);
  switch (action.kind) {
    case ActionKind::add_patient_tag: {
      auto cmd = command(
          at, action.flag ? counselor_actor(planned.counselor) : client_actor(planned.client),
          "patient.add_tag", stream);
      cmd.data_json = R"({"tag":")" + patient_tags()[action.b] + "\"}";
      return cmd;
    }
    case ActionKind::update_patient_wallet: {
      auto cmd = command(at, client_actor(planned.client), "patient.update_wallet", stream);
      cmd.data_json = "{\"amount_cents\":" + std::to_string(action.b) + "}";
      return cmd;
    }
    default: {
      const auto& session = plan_.sessions[action.b];
      auto cmd = command(
          at, action.flag ? counselor_actor(session.counselor) : client_actor(planned.client),
          "patient.add_session", stream);
      cmd.data_json = R"({"session":{"session_id":")" + session.id.value().str() + "\"}}";
      return cmd;
    }
  }
}

}  // namespace counsel::bench
