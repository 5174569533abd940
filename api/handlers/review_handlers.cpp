// /api/v1/counselors/{id}/reviews: a client reviews a counsellor after a completed session; anyone
// signed in reads the reviews. The rules that need the session (its client, completed, once)
// are the counselor aggregate's; this file checks the request's shape and seals the comment.

#include <pqxx/pqxx>

#include "api/handler_support.hpp"
#include "domain/aggregates/counselor.hpp"
#include "domain/aggregates/field_rules.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "projections/read_queries.hpp"
#include "projections/review_queries.hpp"

namespace counsel::api {
namespace {

constexpr const char* kCounselorNotFound = "counselor_not_found";
constexpr size_t kMaxCommentChars = 2000;

struct ReviewInput {
  Uuid session_id;
  int rating = 0;
  std::string comment;  // clear text, trimmed; "" when not given
};

Expected<ReviewInput, ApiError> read_review(const json::Value& body) {
  ReviewInput in;
  auto rating = body.FindMember("rating");
  // Only a JSON integer: "5" and 4.5 are refused rather than coerced.
  if (rating == body.MemberEnd() || !rating->value.IsInt64() ||
      rating->value.GetInt64() < counselor::kMinRating ||
      rating->value.GetInt64() > counselor::kMaxRating)
    return unexpected(validation_failed("rating", "expected an integer from 1 to 5"));
  in.rating = static_cast<int>(rating->value.GetInt64());

  auto session_text = json::get_string(body, "session_id");
  auto session_id = session_text ? Uuid::parse(*session_text) : std::nullopt;
  if (!session_id || session_id->is_nil())
    return unexpected(
        validation_failed("session_id", "expected the UUID of your completed session"));
  in.session_id = *session_id;

  auto comment = body.FindMember("comment");
  if (comment != body.MemberEnd() && !comment->value.IsNull()) {
    if (!comment->value.IsString())
      return unexpected(validation_failed("comment", "expected a string"));
    const std::string_view raw(comment->value.GetString(), comment->value.GetStringLength());
    if (!fields::valid_utf8(raw) || raw.find('\0') != std::string_view::npos)
      return unexpected(validation_failed("comment", "expected UTF-8 text without U+0000"));
    in.comment = fields::trim(raw);
    if (fields::utf8_length(in.comment) > kMaxCommentChars)
      return unexpected(validation_failed(
          "comment", "at most " + std::to_string(kMaxCommentChars) + " characters"));
  }
  return in;
}

// {"comment","rating","review_id","session_id"}: the command's data, the comment sealed with the
// client's key (it is health information about them, and the log keeps it forever).
std::string submit_data(AppContext& app, const Principal& who, const ReviewInput& in,
                        const std::string& review_id) {
  std::string sealed;
  if (!in.comment.empty()) {
    const std::string client = who.id.value().str();
    sealed = crypto::encrypt_field(app.keyring->get_or_create(who.id.value()), in.comment, client);
  }
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  w.StartObject();
  json::key(w, "comment");
  json::write_string(w, sealed);
  json::key(w, "rating");
  w.Int(in.rating);
  json::key(w, "review_id");
  json::write_string(w, review_id);
  json::key(w, "session_id");
  json::write_string(w, in.session_id.str());
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

HandlerResult post_review(AppContext& app, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  if (who.role != Role::client)
    return unexpected(forbidden("not_session_client", "Only the session's client reviews it."));
  auto counselor_id = path_user_id(params, "id", kCounselorNotFound);
  if (!counselor_id) return unexpected(counselor_id.error());
  auto body = parse_object_body(req);
  if (!body) return unexpected(body.error());
  auto input = read_review(*body);
  if (!input) return unexpected(input.error());

  // Only listed counsellors are reviewed, as only they are shown; the session rules follow in
  // the aggregate.
  const std::string counselor = counselor_id->value().str();
  const bool listed = with_db(app, [&](pqxx::connection& c) {
    return projections::get_counselor(c, counselor).has_value();
  });
  if (!listed) return unexpected(not_found(kCounselorNotFound, "No such counsellor."));

  auto cmd = make_command(req, who, "review.submit", counselor_stream(*counselor_id), "{}");
  // The review id is the command id, so a retried request (same Idempotency-Key) names the same
  // review and gets the first outcome.
  const std::string review_id = cmd.id.value().str();
  cmd.data_json = submit_data(app, who, *input, review_id);
  auto result = run_command(app, cmd);
  if (!result) return unexpected(result.error());

  wait_for_read_models(app, result->event_positions);
  const std::string session_id = input->session_id.str();
  auto found = with_db(
      app, [&](pqxx::connection& c) { return projections::find_review_of_session(c, session_id); });
  HttpResponse resp = json_response(201, found ? *found : result->body_json);
  resp.headers.push_back({"Consistency-Token", consistency_token(result->event_positions)});
  // No route serves a single review: the list it appears in is where it lives.
  resp.headers.push_back({"Location", "/api/v1/counselors/" + counselor + "/reviews"});
  return resp;
}

HandlerResult list_reviews(AppContext& app, const HttpRequest& req, const PathParams& params,
                           const Principal& who) {
  auto counselor_id = path_user_id(params, "id", kCounselorNotFound);
  if (!counselor_id) return unexpected(counselor_id.error());
  auto waited = honour_consistency_token(app, req);
  if (!waited) return unexpected(waited.error());
  auto page = query_int(req, "page", 1, 1000000);
  auto per_page = query_int(req, "per_page", 1, projections::kMaxPerPage);
  if (!page) return unexpected(page.error());
  if (!per_page) return unexpected(per_page.error());

  projections::ReviewListQuery query;
  query.counselor_id = counselor_id->value().str();
  query.page = static_cast<int>(page->value_or(1));
  query.per_page = static_cast<int>(per_page->value_or(projections::kDefaultPerPage));
  // Reviewers are clients in therapy: only admins see who wrote what.
  query.show_reviewer = who.role == Role::admin;
  // As for the profile: an unlisted counsellor's reviews are seen only by them and admins.
  const bool include_unlisted = who.id == *counselor_id || who.role == Role::admin;
  auto listed = with_db(app, [&](pqxx::connection& c) -> std::optional<std::string> {
    if (!projections::get_counselor(c, query.counselor_id, include_unlisted)) return std::nullopt;
    return projections::list_reviews(c, query);
  });
  if (!listed) return unexpected(not_found(kCounselorNotFound, "No such counsellor."));
  return json_response(200, *listed);
}

}  // namespace

void register_review_routes(Router& router, AppContext& app) {
  router.add("GET", "/api/v1/counselors/{id}/reviews", wrap_authed(app, list_reviews));
  router.add("POST", "/api/v1/counselors/{id}/reviews", wrap_authed(app, post_review));
}

}  // namespace counsel::api
