// /api/v1/patients: the patient records of seed 003. The clear-text rules run here (the domain
// only ever sees ciphertext for personal fields), then the fields are sealed with the owning
// client's key and sent to the patient aggregate. Phone and owner uniqueness are reserved in
// identity.patient_*_claims first, as registration reserves emails. What a caller sees of a
// record is rendered by projections::patient_json(), which redacts it for counsellors.
#include <pqxx/pqxx>

#include <functional>
#include <set>
#include <stdexcept>

#include "api/handler_support.hpp"
#include "api/identity_reveal.hpp"
#include "domain/aggregates/patient.hpp"
#include "domain/events/envelope.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/random_ids.hpp"
#include "projections/patient_queries.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

constexpr const char* kPatientNotFound = "patient_not_found";
constexpr const char* kUnknownSession = "unknown_session";

using projections::PatientViewer;

std::chrono::year_month_day today_utc() {
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now_utc())};
}

// The phone as identity.patient_phone_claims keys it: a hash, so the claim table holds no
// number in clear text.
std::string phone_hash(std::string_view phone) {
  return sha256_hex("patient-phone:" + patient::phone_digits(phone));
}

std::string new_patient_id() {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string hex = random_hex(6);
  std::string id = "p_";
  for (size_t i = 0; i < 6; ++i) {
    // 256 % 36 = 4: a negligible bias for an id that only has to be unlikely to collide.
    id += kAlphabet[static_cast<unsigned>(std::stoi(hex.substr(i * 2, 2), nullptr, 16)) % 36];
  }
  return id;
}

// A clear session entry in the form commands carry it: its members other than session_id
// sealed with the owner's key into `details` (patient.hpp, "Session entries"). `key` is asked
// for only when there is something to seal. The entries reaching here have been through
// check_session_entries() or owned_session_entry(), so each has a session_id.
std::string sealed_session(const std::function<crypto::SubjectKey()>& key,
                           const std::string& subject, const std::string& entry) {
  auto parts = patient::split_session_entry(entry);
  if (!parts) throw std::logic_error("a session entry without a session_id reached sealing");
  if (parts->others.empty()) return patient::sealed_session_entry(parts->session_id, "");
  return patient::sealed_session_entry(parts->session_id,
                                       crypto::encrypt_field(key(), parts->others, subject));
}

// Encrypts the personal fields (and the session entries' details) with the owner's key and
// hashes the password: the form the patient commands carry.
patient::Details seal(AppContext& app, const UserId& owner, patient::Details clear) {
  auto key = app.keyring->get_or_create(owner.value());
  const std::string subject = owner.value().str();
  patient::Details out;
  out.tags = std::move(clear.tags);
  if (clear.sessions) {
    out.sessions.emplace();
    for (const auto& entry : *clear.sessions)
      out.sessions->push_back(sealed_session([&] { return key; }, subject, entry));
  }
  out.wallet_balance_cents = clear.wallet_balance_cents;
  for (auto& [name, value] : clear.text) {
    if (name == "password") {
      out.text["password_hash"] = crypto::encrypt_field(key, app.hasher->hash(value), subject);
      continue;
    }
    bool sensitive = false;
    for (const auto& f : patient::text_fields())
      if (name == f.name) sensitive = f.sensitive;
    out.text[name] =
        sensitive && !value.empty() ? crypto::encrypt_field(key, value, subject) : std::move(value);
  }
  return out;
}

std::string command_json(const patient::Details& details,
                         const std::vector<std::pair<const char*, std::string>>& extra = {}) {
  json::Document doc;
  doc.SetObject();
  patient::write_details(doc, details);
  auto& a = doc.GetAllocator();
  for (const auto& [k, v] : extra) doc.AddMember(json::Value(k, a), json::Value(v.c_str(), a), a);
  return json::to_string(doc);
}

// The record as the read model shows it once it includes the command's events, as `viewer` may
// see it.
HandlerResult patient_response(AppContext& app, int status, const std::string& id,
                               const commands::CommandResult& result, PatientViewer viewer) {
  wait_for_read_models(app, result.event_positions);
  auto found = with_db(app, [&](pqxx::connection& c) { return projections::get_patient(c, id); });
  // The aggregate's own view (the fallback while the read model lags) has not been through
  // redact_for() and shows the picture: only those who see everything get it.
  if (!found && viewer == PatientViewer::counselor)
    return unexpected(not_found(kPatientNotFound, "No such patient."));
  HttpResponse resp =
      json_response(status, found ? projections::patient_json(viewer, *found) : result.body_json);
  resp.headers.push_back({"Consistency-Token", consistency_token(result.event_positions)});
  if (status == 201) resp.headers.push_back({"Location", "/api/v1/patients/" + id});
  return resp;
}

void release_claims(AppContext& app, const std::string& patient_id,
                    const std::optional<std::string>& only_phone_hash, bool owner_too) {
  with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (only_phone_hash) {
      tx.exec_params(
          "DELETE FROM identity.patient_phone_claims WHERE phone_hash = $1 AND patient_id = $2",
          *only_phone_hash, patient_id);
    } else {
      tx.exec_params("DELETE FROM identity.patient_phone_claims WHERE patient_id = $1", patient_id);
    }
    if (owner_too)
      tx.exec_params("DELETE FROM identity.patient_owner_claims WHERE patient_id = $1", patient_id);
    tx.commit();
    return 0;
  });
}

// A session named in a record (add_session, or the sessions array on create, PUT and PATCH)
// must be one of the owner's sessions in read.sessions and, when a counsellor names it, one of
// theirs. The answer is the same whether the session does not exist or belongs to someone else,
// so it tells nothing about other people's sessions.
ApiError unknown_session(const std::string& field, bool counselor) {
  const std::string what = counselor
                               ? "none of your sessions with this patient's client has this id"
                               : "no session of this patient's client has this id";
  ApiError error = unprocessable(kUnknownSession, field + ": " + what);
  error.field = field;
  return error;
}

std::optional<std::string> entry_session_id(const std::string& entry) {
  auto doc = json::parse(entry, nullptr, 32);
  if (!doc || !doc->IsObject()) return std::nullopt;
  auto id = json::get_string(*doc, "session_id");
  if (!id) return std::nullopt;
  return std::string(*id);
}

// `entry` (a canonical session object) if it names, by its session_id, a session of `owner_id`
// (with `counselor_id` when given), with that id in canonical form so that the same session is
// never recorded twice under two spellings.
Expected<std::string, ApiError> owned_session_entry(pqxx::connection& c, const std::string& entry,
                                                    const std::string& owner_id,
                                                    const std::optional<std::string>& counselor_id,
                                                    const std::string& field) {
  auto doc = json::parse(entry, nullptr, 32);
  auto id = doc && doc->IsObject() ? json::get_string(*doc, "session_id") : std::nullopt;
  if (!id)
    return unexpected(
        validation_failed(field,
                          "a session object needs a session_id naming one of the client's "
                          "sessions"));
  auto uuid = Uuid::parse(*id);
  if (!uuid) return unexpected(unknown_session(field, counselor_id.has_value()));
  const std::string session_id = uuid->str();
  auto session = projections::get_session(c, session_id);
  if (!session || session->client_id != owner_id ||
      (counselor_id && session->counselor_id != *counselor_id))
    return unexpected(unknown_session(field, counselor_id.has_value()));
  (*doc)["session_id"].SetString(
      session_id.c_str(), static_cast<rapidjson::SizeType>(session_id.size()), doc->GetAllocator());
  return json::canonical(*doc);
}

// The session ids already on a record.
std::set<std::string> session_ids_on(const projections::PatientRecord& record) {
  std::set<std::string> ids;
  auto doc = json::parse(record.sessions_json, nullptr, 32);
  if (!doc || !doc->IsArray()) return ids;
  for (const auto& entry : doc->GetArray()) {
    if (!entry.IsObject()) continue;
    if (auto id = json::get_string(entry, "session_id")) ids.emplace(*id);
  }
  return ids;
}

// A sessions array given on create, PUT or PATCH follows add_session's rule, entry by entry.
// Ids already on the record stay as they are: a record written before the rule may hold ids
// that name no session, and a client re-sending their record must not be refused for them.
Expected<bool, ApiError> check_session_entries(AppContext& app,
                                               std::optional<std::vector<std::string>>& entries,
                                               const std::string& owner_id,
                                               const std::set<std::string>& already_on_record) {
  if (!entries || entries->empty()) return true;
  return with_db(app, [&](pqxx::connection& c) -> Expected<bool, ApiError> {
    for (auto& entry : *entries) {
      auto id = entry_session_id(entry);
      if (id && already_on_record.contains(*id)) continue;
      auto checked = owned_session_entry(c, entry, owner_id, std::nullopt, "sessions");
      if (!checked) return unexpected(checked.error());
      entry = std::move(*checked);
    }
    return true;
  });
}

// The owner of a new record: the client themself, or the client an admin names.
Expected<UserId, ApiError> new_record_owner(AppContext& app, const json::Value& body,
                                            const Principal& who) {
  auto it = body.FindMember("owner_id");
  const bool given = it != body.MemberEnd() && !it->value.IsNull();
  if (who.role == Role::client) {
    if (given && (!it->value.IsString() || it->value.GetString() != who.id.value().str()))
      return unexpected(forbidden("not_patient_owner", "A client creates only their own record."));
    return who.id;
  }
  if (!given) return unexpected(validation_failed("owner_id", "this field is required"));
  auto id = it->value.IsString() ? Uuid::parse(it->value.GetString()) : std::nullopt;
  if (!id) return unexpected(validation_failed("owner_id", "expected a UUID"));
  auto user = with_db(
      app, [&](pqxx::connection& c) { return projections::find_public_user(c, id->str()); });
  auto doc = user ? json::parse(*user) : std::nullopt;
  auto role = doc ? json::get_string(*doc, "role") : std::nullopt;
  if (!role || *role != "client")
    return unexpected(validation_failed("owner_id", "must name a registered client"));
  return UserId{*id};
}

HandlerResult create_patient(AppContext& app, const HttpRequest& req, const PathParams&,
                             const Principal& who) {
  if (who.role != Role::client && who.role != Role::admin)
    return unexpected(
        forbidden("patient_create_forbidden",
                  "Only a client (for themself) or an admin creates patient records."));
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto input = patient::validate_input(*body, patient::InputMode::create, today_utc());
  if (!input) return unexpected(from_rejection(input.error()));
  auto owner = new_record_owner(app, *body, who);
  if (!owner) return unexpected(owner.error());
  auto sessions_ok = check_session_entries(app, input->details.sessions, owner->value().str(), {});
  if (!sessions_ok) return unexpected(sessions_ok.error());
  const std::string id = input->id.value_or(new_patient_id());
  const std::string phone = phone_hash(input->details.text.at("phone_no"));

  // Both claims or neither: the transaction commits only when both are free.
  enum class Claim { ok, owner_taken, phone_taken };
  auto claim = with_db(app, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (tx.exec_params("INSERT INTO identity.patient_owner_claims(owner_id, patient_id)"
                       " VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING RETURNING owner_id",
                       owner->value().str(), id)
            .empty())
      return Claim::owner_taken;
    if (tx.exec_params("INSERT INTO identity.patient_phone_claims(phone_hash, patient_id)"
                       " VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING patient_id",
                       phone, id)
            .empty())
      return Claim::phone_taken;
    tx.commit();
    return Claim::ok;
  });
  if (claim == Claim::owner_taken)
    return unexpected(conflict("patient_exists", "This client already has a patient record."));
  if (claim == Claim::phone_taken)
    return unexpected(conflict("phone_taken", "Another patient already has this phone number."));

  auto sealed = seal(app, *owner, std::move(input->details));
  auto cmd =
      make_command(req, who, "patient.create", patient::patient_stream(id),
                   command_json(sealed, {{"owner_id", owner->value().str()}, {"patient_id", id}}));
  auto result = run_command(app, cmd);
  if (!result) {
    if (result.error().status < 500) release_claims(app, id, std::nullopt, true);
    return unexpected(result.error());
  }
  return patient_response(app, 201, id, *result,
                          who.role == Role::admin ? PatientViewer::admin : PatientViewer::owner);
}

// The record if the caller may read it: its client, a counsellor with a session with that
// client, or an admin. 404 for everyone else, so ids do not reveal that a record exists.
struct Visible {
  std::string id;
  projections::PatientRecord record;  // in full: answer with projections::patient_json(viewer)
  PatientViewer viewer;
  bool writer() const { return viewer != PatientViewer::counselor; }  // the client or an admin
};

Expected<Visible, ApiError> visible_patient(AppContext& app, const PathParams& params,
                                            const Principal& who) {
  auto id_text = params.get("id");
  std::string id = id_text ? std::string(*id_text) : "";
  auto record = with_db(app, [&](pqxx::connection& c) { return projections::get_patient(c, id); });
  if (!record) return unexpected(not_found(kPatientNotFound, "No such patient."));
  const std::string me = who.id.value().str();
  bool owner = who.role == Role::client && record->owner_id == me;
  bool admin = who.role == Role::admin;
  bool counselor = who.role == Role::counselor && with_db(app, [&](pqxx::connection& c) {
                     return projections::has_session_between(c, me, record->owner_id);
                   });
  if (!owner && !admin && !counselor)
    return unexpected(not_found(kPatientNotFound, "No such patient."));
  const auto viewer = admin   ? PatientViewer::admin
                      : owner ? PatientViewer::owner
                              : PatientViewer::counselor;
  return Visible{id, std::move(*record), viewer};
}

Expected<Visible, ApiError> writable_patient(AppContext& app, const HttpRequest& req,
                                             const PathParams& params, const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto v = visible_patient(app, params, who);
  if (!v) return unexpected(v.error());
  if (!v->writer())
    return unexpected(forbidden("not_patient_owner",
                                "Only the patient's client or an admin may change this record."));
  return v;
}

// Why `viewer` may see a record that is not theirs (the owner's own reads are not recorded).
access::Basis patient_access_basis(PatientViewer viewer) {
  switch (viewer) {
    case PatientViewer::counselor:
      return access::Basis::care_relationship;
    case PatientViewer::admin_revealed:
      return access::Basis::identity_reveal;
    default:
      return access::Basis::administration;
  }
}

// One access record per record in a list response's "results" (their owners are the subjects).
std::vector<AccessRecord> listed_patient_accesses(const Principal& who, PatientViewer viewer,
                                                  const std::string& body) {
  std::vector<AccessRecord> out;
  auto doc = json::parse(body, nullptr, 64);
  const auto* results = doc ? json::get_array(*doc, "results") : nullptr;
  if (!results) return out;
  for (const auto& item : results->GetArray()) {
    auto id = json::get_string(item, "id");
    auto owner = json::get_string(item, "owner_id");
    auto owner_id = owner ? Uuid::parse(*owner) : std::nullopt;
    if (!id || !owner_id) continue;
    out.push_back(AccessRecord{who.actor(), UserId{*owner_id}, access::Resource::patient_record,
                               std::string(*id), patient_access_basis(viewer)});
  }
  return out;
}

HandlerResult get_patient(AppContext& app, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto v = visible_patient(app, params, who);
  if (!v) return unexpected(v.error());
  std::string token;
  if (v->viewer == PatientViewer::admin && v->record.owner_anonymous) {
    // As for the client's profile: behind the alias only with a recorded reason (?reason=).
    auto look = admin_identity_look(app, req, who, v->record.owner_id);
    if (!look) return unexpected(look.error());
    if (look->identity_visible) v->viewer = PatientViewer::admin_revealed;
    token = look->consistency_token;
  }
  auto owner = Uuid::parse(v->record.owner_id);
  if (!owner) return unexpected(internal_error());
  auto recorded = record_access(
      app, {AccessRecord{who.actor(), UserId{*owner}, access::Resource::patient_record,
                         v->record.id, patient_access_basis(v->viewer)}});
  if (!recorded) return unexpected(recorded.error());
  auto resp = json_response(200, projections::patient_json(v->viewer, v->record));
  if (!token.empty()) resp.headers.push_back({"Consistency-Token", token});
  return resp;
}

HandlerResult list_patients(AppContext& app, const HttpRequest& req, const PathParams&,
                            const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto page = query_int(req, "page", 1, 1000000);
  if (!page) return unexpected(page.error());
  auto per_page = query_int(req, "per_page", 1, projections::kMaxPerPage);
  if (!per_page) return unexpected(per_page.error());
  projections::PatientFilter f;
  auto text_param = [&](std::string_view name, std::string& out) -> Expected<bool, ApiError> {
    auto v = req.query_param(name);
    if (!v) return true;
    if (v->size() > 200)
      return unexpected(
          bad_request("invalid_parameter", std::string(name) + " may be at most 200 characters"));
    out = std::string(*v);
    return true;
  };
  for (auto [name, out] : {std::pair<std::string_view, std::string*>{"name", &f.name},
                           {"phone", &f.phone},
                           {"email", &f.email}}) {
    auto ok = text_param(name, *out);
    if (!ok) return unexpected(ok.error());
  }
  f.page = static_cast<int>(page->value_or(1));
  f.per_page = static_cast<int>(per_page->value_or(projections::kDefaultPerPage));
  auto viewer = who.role == Role::admin       ? PatientViewer::admin
                : who.role == Role::counselor ? PatientViewer::counselor
                                              : PatientViewer::owner;
  auto body = with_db(app, [&](pqxx::connection& c) {
    return projections::list_patients(c, viewer, who.id.value().str(), f);
  });
  auto recorded = record_access(app, listed_patient_accesses(who, viewer, body));
  if (!recorded) return unexpected(recorded.error());
  return json_response(200, body);
}

// PUT (every required field) and PATCH (only those given).
AuthedHandler update_patient(patient::InputMode mode) {
  return [mode](AppContext& app, const HttpRequest& req, const PathParams& params,
                const Principal& who) -> HandlerResult {
    auto v = writable_patient(app, req, params, who);
    if (!v) return unexpected(v.error());
    auto body = parse_object_body(req);
    if (!body) return unexpected(body.error());
    auto input = patient::validate_input(*body, mode, today_utc());
    if (!input) return unexpected(from_rejection(input.error()));
    auto owner = Uuid::parse(v->record.owner_id);
    if (!owner) return unexpected(internal_error());
    auto sessions_ok = check_session_entries(app, input->details.sessions, v->record.owner_id,
                                             session_ids_on(v->record));
    if (!sessions_ok) return unexpected(sessions_ok.error());
    const std::string old_phone = v->record.phone_no.value_or("");

    // A new phone number is reserved before the command and the old one released after it.
    std::optional<std::string> new_phone;
    auto phone = input->details.text.find("phone_no");
    if (phone != input->details.text.end() &&
        patient::phone_digits(phone->second) != patient::phone_digits(old_phone)) {
      new_phone = phone_hash(phone->second);
      bool claimed = with_db(app, [&](pqxx::connection& c) {
        pqxx::work tx(c);
        auto r = tx.exec_params(
            "INSERT INTO identity.patient_phone_claims(phone_hash, patient_id) VALUES ($1, $2)"
            " ON CONFLICT (phone_hash) DO UPDATE SET patient_id = EXCLUDED.patient_id"
            " WHERE identity.patient_phone_claims.patient_id = EXCLUDED.patient_id"
            " RETURNING patient_id",
            *new_phone, v->id);
        tx.commit();
        return !r.empty();
      });
      if (!claimed)
        return unexpected(
            conflict("phone_taken", "Another patient already has this phone number."));
    }
    auto sealed = seal(app, UserId{*owner}, std::move(input->details));
    auto cmd = make_command(req, who, "patient.update", patient::patient_stream(v->id),
                            command_json(sealed));
    auto result = run_command(app, cmd);
    if (!result) {
      if (new_phone && result.error().status < 500) release_claims(app, v->id, new_phone, false);
      return unexpected(result.error());
    }
    if (new_phone && !old_phone.empty()) release_claims(app, v->id, phone_hash(old_phone), false);
    return patient_response(app, 200, v->id, *result, v->viewer);
  };
}

HandlerResult delete_patient(AppContext& app, const HttpRequest& req, const PathParams& params,
                             const Principal& who) {
  auto v = writable_patient(app, req, params, who);
  if (!v) return unexpected(v.error());
  auto cmd = make_command(req, who, "patient.delete", patient::patient_stream(v->id), "{}");
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());
  // The number and the client are free again; the id is not (the stream remembers it).
  release_claims(app, v->id, std::nullopt, true);
  wait_for_read_models(app, result->event_positions);
  HttpResponse resp = json_response(204, "");
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  return resp;
}

// A custom action (seed 003): `build` turns the body into the command's data, checking it
// against the read models where it names something (add_session).
using ActionBody = std::function<Expected<std::string, ApiError>(
    AppContext&, const Principal&, const Visible&, const json::Value&)>;

AuthedHandler action(std::string command_type, bool counselors_too, ActionBody build) {
  return [command_type, counselors_too, build](AppContext& app, const HttpRequest& req,
                                               const PathParams& params,
                                               const Principal& who) -> HandlerResult {
    auto waited = honour_consistency_token(app, req);
    if (!waited) return unexpected(waited.error());
    auto v = visible_patient(app, params, who);
    if (!v) return unexpected(v.error());
    if (!v->writer() && !counselors_too)
      return unexpected(
          forbidden("not_patient_owner", "Only the patient's client or an admin may do this."));
    auto body = parse_object_body(req);
    if (!body) return unexpected(body.error());
    auto data = build(app, who, *v, *body);
    if (!data) return unexpected(data.error());
    auto cmd = make_command(req, who, command_type, patient::patient_stream(v->id), *data);
    auto result = run_command(app, cmd);
    if (!result) return unexpected(result.error());
    return patient_response(app, 200, v->id, *result, v->viewer);
  };
}

Expected<std::string, ApiError> tag_data(AppContext&, const Principal&, const Visible&,
                                         const json::Value& body) {
  auto tag = patient::parse_tag_body(body);
  if (!tag) return unexpected(from_rejection(tag.error()));
  json::Document d;
  d.SetObject();
  d.AddMember("tag", json::Value(tag->c_str(), d.GetAllocator()), d.GetAllocator());
  return json::to_string(d);
}

// {session_id} or {session: id or object}, as patient::parse_session_body() reads it; the
// session must be the client's and, for a counsellor, theirs (422 unknown_session). The entry
// travels sealed with the owner's key.
Expected<std::string, ApiError> session_data(AppContext& app, const Principal& who,
                                             const Visible& v, const json::Value& body) {
  auto session = patient::parse_session_body(body);
  if (!session) return unexpected(from_rejection(session.error()));
  auto by_id = body.FindMember("session_id");
  const std::string field =
      by_id != body.MemberEnd() && !by_id->value.IsNull() ? "session_id" : "session";
  std::optional<std::string> counselor;
  if (v.viewer == PatientViewer::counselor) counselor = who.id.value().str();
  auto checked = with_db(app, [&](pqxx::connection& c) {
    return owned_session_entry(c, *session, v.record.owner_id, counselor, field);
  });
  if (!checked) return unexpected(checked.error());
  auto owner = Uuid::parse(v.record.owner_id);
  if (!owner) return unexpected(internal_error());
  const auto sealed =
      sealed_session([&] { return app.keyring->get_or_create(*owner); }, owner->str(), *checked);
  return "{\"session\":" + sealed + "}";
}

Expected<std::string, ApiError> wallet_data(AppContext&, const Principal&, const Visible&,
                                            const json::Value& body) {
  auto it = body.FindMember("amount");
  if (it == body.MemberEnd() || it->value.IsNull())
    return unexpected(validation_failed("amount", "this field is required"));
  auto cents = patient::parse_money(it->value, "amount", patient::kMaxWalletCents);
  if (!cents) return unexpected(from_rejection(cents.error()));
  return "{\"amount_cents\":" + std::to_string(*cents) + "}";
}

}  // namespace

void register_patient_routes(Router& router, AppContext& app) {
  router.add("POST", "/api/v1/patients", wrap_authed(app, create_patient));
  router.add("GET", "/api/v1/patients", wrap_authed(app, list_patients));
  router.add("GET", "/api/v1/patients/{id}", wrap_authed(app, get_patient));
  router.add("PUT", "/api/v1/patients/{id}",
             wrap_authed(app, update_patient(patient::InputMode::replace)));
  router.add("PATCH", "/api/v1/patients/{id}",
             wrap_authed(app, update_patient(patient::InputMode::partial)));
  router.add("DELETE", "/api/v1/patients/{id}", wrap_authed(app, delete_patient));
  router.add("POST", "/api/v1/patients/{id}/add_tag",
             wrap_authed(app, action("patient.add_tag", true, tag_data)));
  router.add("POST", "/api/v1/patients/{id}/remove_tag",
             wrap_authed(app, action("patient.remove_tag", false, tag_data)));
  router.add("POST", "/api/v1/patients/{id}/add_session",
             wrap_authed(app, action("patient.add_session", true, session_data)));
  router.add("POST", "/api/v1/patients/{id}/update_wallet",
             wrap_authed(app, action("patient.update_wallet", false, wallet_data)));
}

}  // namespace counsel::api
