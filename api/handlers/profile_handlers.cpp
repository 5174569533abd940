// /api/v1/clients/{id}, /api/v1/users/{id} and /api/v1/me: client profiles and what each
// caller may see of a user. An anonymous client appears to every other user under their alias
// only; an admin sees who is behind it after naming a reason, and that look is recorded in the
// audit stream (account.identity_revealed) before anything is shown: no record, no identity.
// The clear-text rules of a profile run here because the account aggregate only ever sees the
// fields sealed with the client's subject key.
#include <boost/url/parse.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <limits>

#include "api/handler_support.hpp"
#include "api/identity_reveal.hpp"
#include "domain/aggregates/account.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "projections/patient_queries.hpp"
#include "projections/profile_queries.hpp"

namespace counsel::api {
namespace {

using fields::utf8_length;
using projections::ClientRecord;
using projections::UserRecord;

constexpr const char* kClientNotFound = "client_not_found";
constexpr const char* kUserNotFound = "user_not_found";
// Shown instead of a name the read model can no longer decrypt (an erased subject).
constexpr const char* kErasedName = "[erased]";

constexpr size_t kMaxPictureUrlChars = 2048;
constexpr size_t kMaxBioChars = 2000;
constexpr size_t kMaxAddressChars = 500;
constexpr size_t kMaxPreferencesBytes = 8 * 1024;
constexpr size_t kMinAliasChars = 2;
constexpr size_t kMaxAliasChars = 40;
constexpr size_t kMinRevealReasonChars = 3;
constexpr size_t kMaxRevealReasonChars = 500;

// --- clear-text rules ----------------------------------------------------------------------

// Text other people read: no control characters, except tabs and line breaks in `multiline`
// text. NUL in particular cannot be stored in PostgreSQL text.
bool printable(std::string_view s, bool multiline) {
  for (unsigned char c : s) {
    if (c == 0x7F) return false;
    if (c < 0x20 && !(multiline && (c == '\t' || c == '\n' || c == '\r'))) return false;
  }
  return true;
}

// An absolute http(s) URL with a host: frontends show the picture, so javascript:, data: and
// relative references are refused.
bool http_url(std::string_view s) {
  auto url = boost::urls::parse_absolute_uri(s);
  if (!url) return false;
  const auto scheme = url->scheme_id();
  return (scheme == boost::urls::scheme::http || scheme == boost::urls::scheme::https) &&
         url->has_authority() && !url->encoded_host().empty();
}

// "zu", "nso", "en-ZA": a language of 2-3 letters and an optional 2-letter region, in the case
// the account aggregate stores (BCP 47 tags are case-insensitive, so "en-za" is accepted).
std::optional<std::string> language_tag(std::string_view s) {
  auto letters = [](std::string_view part) {
    for (char c : part)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
    return true;
  };
  const auto dash = s.find('-');
  const auto language = s.substr(0, dash);
  const auto region = dash == std::string_view::npos ? std::string_view() : s.substr(dash + 1);
  if (language.size() < 2 || language.size() > 3 || !letters(language)) return std::nullopt;
  if (dash != std::string_view::npos && (region.size() != 2 || !letters(region)))
    return std::nullopt;
  std::string tag;
  for (char c : language) tag += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!region.empty()) {
    tag += '-';
    for (char c : region) tag += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return tag;
}

// jsonb cannot hold U+0000 anywhere, in keys or in strings.
bool holds_nul(const json::Value& v) {
  auto has_nul = [](const json::Value& s) {
    return std::string_view(s.GetString(), s.GetStringLength()).find('\0') !=
           std::string_view::npos;
  };
  if (v.IsString()) return has_nul(v);
  if (v.IsArray()) {
    for (const auto& e : v.GetArray())
      if (holds_nul(e)) return true;
  } else if (v.IsObject()) {
    for (const auto& m : v.GetObject())
      if (has_nul(m.name) || holds_nul(m.value)) return true;
  }
  return false;
}

// The profile a PUT asks for, in clear text; "" means not given.
struct ProfileInput {
  std::string picture_url;
  std::string bio;
  std::string address;
  std::string preferences;  // a JSON object's text
  std::string preferred_language;
  bool anonymous = false;
  std::string alias;
};

constexpr std::string_view kProfileFields[] = {
    "picture_url", "bio", "address", "preferences", "preferred_language", "anonymous", "alias"};
// The read-only members of the view, ignored so that a client may send back what GET gave it.
constexpr std::string_view kViewOnlyFields[] = {"id", "display_name", "email", "updated_at"};

const json::Value* given(const json::Value& body, const char* name) {
  auto it = body.FindMember(name);
  if (it == body.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

// An optional text member: "" when absent or null.
Expected<std::string, ApiError> text_member(const json::Value& body, const char* field,
                                            size_t max_chars, bool multiline) {
  const auto* v = given(body, field);
  if (!v) return std::string();
  if (!v->IsString()) return unexpected(validation_failed(field, "expected a string"));
  std::string s(v->GetString(), v->GetStringLength());
  if (!fields::valid_utf8(s) || !printable(s, multiline))
    return unexpected(validation_failed(field, multiline
                                                   ? "expected text without control characters"
                                                   : "expected one line of text"));
  if (utf8_length(s) > max_chars)
    return unexpected(
        validation_failed(field, "at most " + std::to_string(max_chars) + " characters"));
  return s;
}

Expected<ProfileInput, ApiError> read_profile(const json::Value& body) {
  for (const auto& m : body.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    auto known = [&](const auto& names) {
      return std::find(std::begin(names), std::end(names), name) != std::end(names);
    };
    if (!known(kProfileFields) && !known(kViewOnlyFields))
      return unexpected(validation_failed(name,
                                          "not a profile field (picture_url, bio, address, "
                                          "preferences, preferred_language, anonymous, alias)"));
  }
  ProfileInput in;

  auto picture = text_member(body, "picture_url", kMaxPictureUrlChars, false);
  if (!picture) return unexpected(picture.error());
  if (!picture->empty() && !http_url(*picture))
    return unexpected(validation_failed("picture_url", "expected an http(s) URL with a host"));
  in.picture_url = std::move(*picture);

  auto bio = text_member(body, "bio", kMaxBioChars, true);
  if (!bio) return unexpected(bio.error());
  in.bio = std::move(*bio);

  auto address = text_member(body, "address", kMaxAddressChars, true);
  if (!address) return unexpected(address.error());
  in.address = std::move(*address);

  if (const auto* v = given(body, "preferences")) {
    if (!v->IsObject())
      return unexpected(validation_failed("preferences", "expected a JSON object"));
    std::string text = json::to_string(*v);
    if (text.size() > kMaxPreferencesBytes)
      return unexpected(validation_failed(
          "preferences",
          "at most " + std::to_string(kMaxPreferencesBytes) + " bytes as compact JSON"));
    if (!fields::valid_utf8(text) || holds_nul(*v))
      return unexpected(validation_failed("preferences", "expected UTF-8 text without U+0000"));
    in.preferences = std::move(text);
  }

  if (const auto* v = given(body, "preferred_language")) {
    auto tag = v->IsString() ? language_tag({v->GetString(), v->GetStringLength()}) : std::nullopt;
    if (!tag)
      return unexpected(
          validation_failed("preferred_language", "expected a language tag like zu, en or en-ZA"));
    in.preferred_language = std::move(*tag);
  }

  if (const auto* v = given(body, "anonymous")) {
    if (!v->IsBool()) return unexpected(validation_failed("anonymous", "expected true or false"));
    in.anonymous = v->GetBool();
  }

  // The alias stands in for the name wherever others see this client: one trimmed line.
  auto alias = text_member(body, "alias", std::numeric_limits<size_t>::max(), false);
  if (!alias) return unexpected(alias.error());
  in.alias = fields::trim(*alias);
  const auto alias_chars = utf8_length(in.alias);
  if (in.alias.empty() && in.anonymous)
    return unexpected(validation_failed("alias", "required when anonymous is true"));
  if (!in.alias.empty() && (alias_chars < kMinAliasChars || alias_chars > kMaxAliasChars))
    return unexpected(validation_failed("alias", "expected " + std::to_string(kMinAliasChars) +
                                                     " to " + std::to_string(kMaxAliasChars) +
                                                     " characters"));
  return in;
}

// The data of account.update_client_profile: every personal field sealed with the client's key.
Expected<std::string, ApiError> profile_command_data(AppContext& app, const UserId& client,
                                                     const ProfileInput& in) {
  const auto key = app.keyring->get_or_create(client.value());
  const std::string subject = client.value().str();
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "user_id");
  json::write_string(w, subject);
  for (auto [field, clear] :
       {std::pair{"picture_url", &in.picture_url}, std::pair{"bio", &in.bio},
        std::pair{"address", &in.address}, std::pair{"preferences", &in.preferences},
        std::pair{"alias", &in.alias}}) {
    std::string sealed = clear->empty() ? "" : crypto::encrypt_field(key, *clear, subject);
    // Multi-byte text can pass the character limits and still outgrow what the aggregate
    // accepts once sealed; say which field instead of a generic invalid_command.
    if (sealed.size() > account::kMaxEncryptedChars)
      return unexpected(validation_failed(field, "too long to store once encrypted; shorten it"));
    json::key(w, field);
    json::write_string(w, sealed);
  }
  json::key(w, "preferred_language");
  json::write_string(w, in.preferred_language);
  json::key(w, "anonymous");
  w.Bool(in.anonymous);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// --- views ---------------------------------------------------------------------------------

// An anonymous client's real identity is hidden from everyone but themself (and an admin who
// gives a reason).
bool identity_hidden(const UserRecord& u) {
  return u.role == "client" && u.anonymous;
}

// The name others see: the alias of an anonymous client, never a fallback to the real name.
std::string shown_name(const UserRecord& u) {
  if (identity_hidden(u)) return u.alias.value_or(kErasedName);
  return u.display_name.value_or(kErasedName);
}

class View {
 public:
  View() : w_(sb_) { w_.StartObject(); }
  View& str(std::string_view k, std::string_view v) {
    json::key(w_, k);
    json::write_string(w_, v);
    return *this;
  }
  View& str_or_null(std::string_view k, const std::optional<std::string>& v) {
    json::key(w_, k);
    if (v) {
      json::write_string(w_, *v);
    } else {
      w_.Null();
    }
    return *this;
  }
  View& time_or_null(std::string_view k, const std::optional<Timestamp>& t) {
    return str_or_null(k, t ? std::optional<std::string>(format_rfc3339(*t)) : std::nullopt);
  }
  View& boolean(std::string_view k, bool v) {
    json::key(w_, k);
    w_.Bool(v);
    return *this;
  }
  // `text` is a JSON object from jsonb (so well-formed), or null.
  View& object_or_null(std::string_view k, const std::optional<std::string>& text) {
    json::key(w_, k);
    if (text) {
      w_.RawValue(text->data(), text->size(), rapidjson::kObjectType);
    } else {
      w_.Null();
    }
    return *this;
  }
  std::string done() {
    w_.EndObject();
    return {sb_.GetString(), sb_.GetSize()};
  }

 private:
  rapidjson::StringBuffer sb_;
  json::Writer w_;
};

// The user's own view (and an admin's): everything but credentials.
std::string full_user_view(const UserRecord& u) {
  return View()
      .str("id", u.id)
      .str_or_null("email", u.email)
      .str("role", u.role)
      .str("display_name", u.display_name.value_or(kErasedName))
      .str("status", u.status)
      .time_or_null("created_at", u.created_at)
      .boolean("verified", u.verified)
      .boolean("two_factor_enabled", u.two_factor_enabled)
      .boolean("anonymous", u.anonymous)
      .str_or_null("alias", u.alias)
      .done();
}

// What anyone signed in may see.
std::string public_user_view(const UserRecord& u) {
  View v;
  v.str("id", u.id).str("role", u.role).str("display_name", shown_name(u));
  if (u.role == "counselor") v.boolean("verified", u.verified);
  return v.done();
}

// An admin's view of an anonymous client before a reason was given.
std::string hidden_user_view(const UserRecord& u) {
  return View()
      .str("id", u.id)
      .str("role", u.role)
      .str("display_name", shown_name(u))
      .boolean("anonymous", true)
      .boolean("identity_hidden", true)
      .done();
}

// The client and admins (once any alias is looked behind).
std::string full_client_view(const ClientRecord& c) {
  return View()
      .str("id", c.user.id)
      .str("display_name", c.user.display_name.value_or(kErasedName))
      .str_or_null("email", c.user.email)
      .str_or_null("picture_url", c.profile.picture_url)
      .str_or_null("bio", c.profile.bio)
      .str_or_null("address", c.profile.address)
      .object_or_null("preferences", c.profile.preferences)
      .str_or_null("preferred_language", c.profile.preferred_language)
      .boolean("anonymous", c.user.anonymous)
      .str_or_null("alias", c.user.alias)
      .time_or_null("updated_at", c.profile.updated_at)
      .done();
}

// A counsellor who has (or had) a session with the client. An anonymous client's picture and
// bio could identify them, so only the alias and the language remain.
std::string counselor_client_view(const ClientRecord& c, bool mark_identity_hidden = false) {
  View v;
  v.str("id", c.user.id).str("display_name", shown_name(c.user));
  if (identity_hidden(c.user)) {
    v.boolean("anonymous", true).str_or_null("preferred_language", c.profile.preferred_language);
    if (mark_identity_hidden) v.boolean("identity_hidden", true);
    return v.done();
  }
  return v.str_or_null("picture_url", c.profile.picture_url)
      .str_or_null("bio", c.profile.bio)
      .str_or_null("preferred_language", c.profile.preferred_language)
      .boolean("anonymous", false)
      .done();
}

// --- looking behind an alias ---------------------------------------------------------------

// An admin's ?reason= (3-500 characters, trimmed); nullopt when none was given.
Expected<std::optional<std::string>, ApiError> reveal_reason(const HttpRequest& req) {
  auto raw = req.query_param("reason");
  if (!raw) return std::optional<std::string>();
  std::string reason = fields::trim(*raw);
  const auto chars = utf8_length(reason);
  if (!fields::valid_utf8(reason) || !printable(reason, false) || chars < kMinRevealReasonChars ||
      chars > kMaxRevealReasonChars)
    return unexpected(
        bad_request("invalid_parameter", "reason must be " + std::to_string(kMinRevealReasonChars) +
                                             " to " + std::to_string(kMaxRevealReasonChars) +
                                             " characters of one-line text."));
  return std::optional<std::string>(std::move(reason));
}

struct AdminLook {
  bool identity_visible = false;
  bool revealed = false;          // looked behind an alias, with a recorded reason
  std::string consistency_token;  // of the recorded reveal, when one was recorded
};

// Whether an admin sees `target`'s identity. Behind an alias only with a reason, and only once
// account.identity_revealed (reason sealed with the client's key) is in the log.
Expected<AdminLook, ApiError> admin_look(AppContext& app, const HttpRequest& req,
                                         const Principal& admin, const UserRecord& target) {
  auto reason = reveal_reason(req);
  if (!reason) return unexpected(reason.error());
  if (!identity_hidden(target)) return AdminLook{true, false, ""};
  if (!*reason) return AdminLook{false, false, ""};
  auto client = Uuid::parse(target.id);
  if (!client) return unexpected(internal_error());
  const auto key = app.keyring->get_or_create(*client);
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "user_id");
  json::write_string(w, target.id);
  json::key(w, "reason");
  json::write_string(w, crypto::encrypt_field(key, **reason, target.id));
  w.EndObject();
  auto cmd =
      make_command(req, admin, "account.record_identity_reveal", account_stream(UserId{*client}),
                   std::string(sb.GetString(), sb.GetSize()));
  auto recorded = run_command(app, cmd);
  if (!recorded) return unexpected(recorded.error());
  return AdminLook{true, true, consistency_token(recorded->event_positions)};
}

// The access record of one read of `subject`'s profile by `who`.
AccessRecord profile_access(const Principal& who, const std::string& subject, access::Resource what,
                            access::Basis why) {
  return AccessRecord{who.actor(), UserId{*Uuid::parse(subject)}, what, subject, why};
}

access::Basis admin_basis(const AdminLook& look) {
  return look.revealed ? access::Basis::identity_reveal : access::Basis::administration;
}

HttpResponse view_response(std::string body, const std::string& token = "") {
  auto resp = json_response(200, std::move(body));
  if (!token.empty()) resp.headers.push_back({"Consistency-Token", token});
  return resp;
}

// --- handlers ------------------------------------------------------------------------------

HandlerResult me(AppContext& app, const HttpRequest& req, const PathParams&, const Principal& who) {
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto user = with_db(app, [&](pqxx::connection& c) {
    return projections::find_user_record(c, who.id.value().str());
  });
  if (!user) return unexpected(not_found(kUserNotFound, "Your account is not visible yet."));
  return json_response(200, full_user_view(*user));
}

HandlerResult get_user(AppContext& app, const HttpRequest& req, const PathParams& params,
                       const Principal& who) {
  auto id = path_user_id(params, "id", kUserNotFound);
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto user = with_db(app, [&](pqxx::connection& c) {
    return projections::find_user_record(c, id->value().str());
  });
  if (!user) return unexpected(not_found(kUserNotFound, "No such user."));
  if (who.id == *id) return json_response(200, full_user_view(*user));
  if (who.role != Role::admin) {
    auto recorded = record_access(
        app,
        {profile_access(who, user->id, access::Resource::user_profile, access::Basis::directory)});
    if (!recorded) return unexpected(recorded.error());
    return json_response(200, public_user_view(*user));
  }
  auto look = admin_look(app, req, who, *user);
  if (!look) return unexpected(look.error());
  auto recorded = record_access(
      app, {profile_access(who, user->id, access::Resource::user_profile, admin_basis(*look))});
  if (!recorded) return unexpected(recorded.error());
  return view_response(look->identity_visible ? full_user_view(*user) : hidden_user_view(*user),
                       look->consistency_token);
}

HandlerResult get_client(AppContext& app, const HttpRequest& req, const PathParams& params,
                         const Principal& who) {
  auto id = path_user_id(params, "id", kClientNotFound);
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  const std::string client_id = id->value().str();
  auto client =
      with_db(app, [&](pqxx::connection& c) { return projections::find_client(c, client_id); });
  // One answer for "no such client" and "not yours to see": ids reveal nothing.
  auto hidden = [] { return unexpected(not_found(kClientNotFound, "No such client.")); };
  if (!client) return hidden();
  if (who.id == *id) return json_response(200, full_client_view(*client));
  if (who.role == Role::admin) {
    auto look = admin_look(app, req, who, client->user);
    if (!look) return unexpected(look.error());
    auto recorded = record_access(
        app,
        {profile_access(who, client_id, access::Resource::client_profile, admin_basis(*look))});
    if (!recorded) return unexpected(recorded.error());
    return view_response(look->identity_visible
                             ? full_client_view(*client)
                             : counselor_client_view(*client, /*mark_identity_hidden=*/true),
                         look->consistency_token);
  }
  const bool their_counselor =
      who.role == Role::counselor && with_db(app, [&](pqxx::connection& c) {
        return projections::has_session_between(c, who.id.value().str(), client_id);
      });
  if (!their_counselor) return hidden();
  auto recorded =
      record_access(app, {profile_access(who, client_id, access::Resource::client_profile,
                                         access::Basis::care_relationship)});
  if (!recorded) return unexpected(recorded.error());
  return json_response(200, counselor_client_view(*client));
}

HandlerResult put_client(AppContext& app, const HttpRequest& req, const PathParams& params,
                         const Principal& who) {
  auto id = path_user_id(params, "id", kClientNotFound);
  if (!id) return unexpected(id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  if (who.id != *id) {
    const bool is_client = with_db(app, [&](pqxx::connection& c) {
      return projections::find_client(c, id->value().str()).has_value();
    });
    if (!is_client) return unexpected(not_found(kClientNotFound, "No such client."));
    return unexpected(forbidden("forbidden", "Only the client may change their profile."));
  }
  if (who.role != Role::client)
    return unexpected(not_found(kClientNotFound, "Only client accounts have a client profile."));

  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto input = read_profile(*body);
  if (!input) return unexpected(input.error());
  auto data = profile_command_data(app, *id, *input);
  if (!data) return unexpected(data.error());
  auto cmd = make_command(req, who, "account.update_client_profile", account_stream(*id),
                          std::move(*data));
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());

  const bool caught_up = wait_for_read_models(app, result->event_positions);
  auto saved = with_db(
      app, [&](pqxx::connection& c) { return projections::find_client(c, id->value().str()); });
  if (!saved) {
    saved.emplace();
    saved->user.id = id->value().str();
    saved->user.role = "client";
  }
  if (!caught_up || !saved->profile.updated_at) {
    // The read models are late: answer with what was just recorded.
    auto unless_empty = [](const std::string& s) {
      return s.empty() ? std::nullopt : std::optional<std::string>(s);
    };
    saved->profile = {unless_empty(input->picture_url),
                      unless_empty(input->bio),
                      unless_empty(input->address),
                      unless_empty(input->preferences),
                      unless_empty(input->preferred_language),
                      input->anonymous,
                      unless_empty(input->alias),
                      std::nullopt};
    saved->user.anonymous = input->anonymous;
    saved->user.alias = unless_empty(input->alias);
  }
  auto resp = json_response(200, full_client_view(*saved));
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  return resp;
}

}  // namespace

Expected<IdentityLook, ApiError> admin_identity_look(AppContext& app, const HttpRequest& req,
                                                     const Principal& admin,
                                                     const std::string& client_id) {
  auto target = with_db(
      app, [&](pqxx::connection& c) { return projections::find_user_record(c, client_id); });
  if (!target) return IdentityLook{true, ""};  // nobody behind an alias to protect
  auto look = admin_look(app, req, admin, *target);
  if (!look) return unexpected(look.error());
  return IdentityLook{look->identity_visible, look->consistency_token};
}

void register_profile_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/me", wrap_authed(app, me));
  router.add("GET", "/api/v1/users/{id}", wrap_authed(app, get_user));
  router.add("GET", "/api/v1/clients/{id}", wrap_authed(app, get_client));
  router.add("PUT", "/api/v1/clients/{id}", wrap_authed(app, put_client));
}

}  // namespace counsel::api
