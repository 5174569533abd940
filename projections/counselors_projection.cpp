// counselors (searchable directory), counselor_availability (what slots are computed from) and
// reviews (whose mean is the directory's rating: one projection, so a rebuild recomputes both).
// A row appears with account.registered (role counselor) so a new counsellor is findable by
// name, and is filled by profile and availability events. Registration lives on the account
// stream and the profile on the counselor stream (maybe another partition), so each event
// touches only its own columns: the result is the same in whichever order they arrive.
#include "domain/aggregates/counselor.hpp"
#include "projections/event_data.hpp"
#include "projections/prepared_sql.hpp"
#include "projections/read_models.hpp"

namespace counsel::projections {
namespace {

// Whether availability has any window at all (weekly, or an override that opens one).
bool offers_any_window(const json::Value& data) {
  const auto* weekly = json::get_array(data, "weekly");
  if (weekly && !weekly->Empty()) return true;
  const auto* overrides = json::get_array(data, "overrides");
  if (!overrides) return false;
  for (const auto& o : overrides->GetArray()) {
    if (!o.IsObject()) continue;
    if (json::get_bool(o, "unavailable").value_or(false)) continue;
    const auto* windows = json::get_array(o, "windows");
    if (windows && !windows->Empty()) return true;
  }
  return false;
}

class CounselorsProjection final : public Projection {
 public:
  std::string_view name() const override { return "counselors"; }
  std::vector<std::string> tables() const override {
    return {"counselors", "counselor_availability", "reviews"};
  }

  // Not reviews_counselor_created_idx: each review recomputes its counsellor's rating by it.
  std::vector<std::string> query_only_indexes() const override {
    return {"counselors_specialties_idx", "counselors_languages_idx", "counselors_level_idx",
            "counselors_name_idx"};
  }

  void create_tables(pqxx::work& tx, const std::string& schema) const override {
    const auto counselors = qualified(tx, schema, "counselors");
    const auto availability = qualified(tx, schema, "counselor_availability");
    const auto reviews = qualified(tx, schema, "reviews");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + counselors +
             " (counselor_id uuid PRIMARY KEY,"
             " role text,"  // NULL until account.registered has been projected
             " display_name text,"
             " specialties text[] NOT NULL DEFAULT '{}',"  // as entered, for display
             " languages text[] NOT NULL DEFAULT '{}',"
             " specialties_lc text[] NOT NULL DEFAULT '{}',"  // lower-cased, for filters
             " languages_lc text[] NOT NULL DEFAULT '{}',"
             " level text,"
             " bio text NOT NULL DEFAULT '',"
             " verified boolean NOT NULL DEFAULT false,"
             " rating numeric(3,2),"
             " review_count integer NOT NULL DEFAULT 0,"
             " has_availability boolean NOT NULL DEFAULT false,"
             " time_zone text,"
             " created_at timestamptz,"
             " updated_at timestamptz NOT NULL)");
    // Added after the first release (see users_projection.cpp). Read models built before
    // verification existed defaulted to verified; new rows must not.
    tx.exec0("ALTER TABLE " + counselors + " ALTER COLUMN verified SET DEFAULT false");
    for (const char* column :
         {"suspended boolean NOT NULL DEFAULT false", "credentials text NOT NULL DEFAULT ''"})
      tx.exec0("ALTER TABLE " + counselors + " ADD COLUMN IF NOT EXISTS " + column);
    tx.exec0("CREATE INDEX IF NOT EXISTS counselors_specialties_idx ON " + counselors +
             " USING gin (specialties_lc)");
    tx.exec0("CREATE INDEX IF NOT EXISTS counselors_languages_idx ON " + counselors +
             " USING gin (languages_lc)");
    tx.exec0("CREATE INDEX IF NOT EXISTS counselors_level_idx ON " + counselors +
             " (lower(level))");
    tx.exec0("CREATE INDEX IF NOT EXISTS counselors_name_idx ON " + counselors +
             " (lower(display_name), counselor_id)");
    tx.exec0("CREATE TABLE IF NOT EXISTS " + availability +
             " (counselor_id uuid PRIMARY KEY,"
             " availability jsonb NOT NULL,"
             " updated_at timestamptz NOT NULL)");
    // Added after the first release; IF NOT EXISTS upgrades read models built before it (no
    // review events predate it, so nothing needs replaying).
    tx.exec0("CREATE TABLE IF NOT EXISTS " + reviews +
             " (review_id uuid PRIMARY KEY,"
             " counselor_id uuid NOT NULL,"
             " session_id uuid NOT NULL UNIQUE,"
             " client_id uuid NOT NULL,"
             " rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),"
             " comment text,"  // NULL once the client is erased
             " created_at timestamptz NOT NULL)");
    tx.exec0("CREATE INDEX IF NOT EXISTS reviews_counselor_created_idx ON " + reviews +
             " (counselor_id, created_at DESC, review_id DESC)");
  }

  void apply(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) const override {
    if (e.type != "account.registered") {
      if (e.type == "counselor.profile_updated" || e.type == "counselor.availability_set" ||
          e.type == "counselor.verified" || e.type == "counselor.suspended" ||
          e.type == "counselor.reinstated" || e.type == "review.submitted" ||
          e.type == "account.erased")
        ctx.changed.insert(std::string(name()));
    }
    if (e.type == "account.registered") {
      registered(tx, e, ctx);
    } else if (e.type == "counselor.profile_updated") {
      profile_updated(tx, e);
    } else if (e.type == "counselor.availability_set") {
      availability_set(tx, e);
    } else if (e.type == "counselor.verified" || e.type == "counselor.suspended" ||
               e.type == "counselor.reinstated") {
      admin_decision(tx, e);
    } else if (e.type == "review.submitted") {
      review_submitted(e, ctx);
    } else if (e.type == "account.erased") {
      erased(tx, e, ctx);
    }
  }

 private:
  static void registered(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    if (d.str("role") != "counselor") return;
    ctx.changed.insert("counselors");
    const Uuid id = d.uuid("user_id");
    const auto display_name = ctx.decryptor.decrypt(id, d.str("display_name"));
    const auto at = format_rfc3339(e.occurred_at);
    exec_prepared_sql0(
        tx,
        "INSERT INTO counselors (counselor_id, role, display_name, created_at, updated_at)"
        " VALUES ($1::uuid, 'counselor', $2, $3::timestamptz, $3::timestamptz)"
        " ON CONFLICT (counselor_id) DO UPDATE SET role = EXCLUDED.role,"
        " display_name = EXCLUDED.display_name, created_at = EXCLUDED.created_at,"
        " updated_at = GREATEST(counselors.updated_at, EXCLUDED.updated_at)",
        id.str(), display_name, at);
  }

  // An erased counsellor leaves the directory and keeps no name or profile text here; an erased
  // client's review keeps its rating (the counsellor's average stays true) but not its words.
  static void erased(pqxx::work& tx, const EventEnvelope& e, ApplyContext& ctx) {
    new_reviews(ctx).write(tx);  // the comments to forget may be among them
    EventData d(e);
    const std::string user = d.uuid("user_id").str();
    exec_prepared_sql0(
        tx,
        "UPDATE counselors SET display_name = NULL, bio = '', credentials = '', suspended = true"
        " WHERE counselor_id = $1::uuid",
        user);
    exec_prepared_sql0(tx, "UPDATE reviews SET comment = NULL WHERE client_id = $1::uuid", user);
  }

  static void profile_updated(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    const Uuid id = d.uuid("counselor_id");
    const auto specialties = json_string_array(d.strings("specialties"));
    const auto languages = json_string_array(d.strings("languages"));
    exec_prepared_sql0(
        tx,
        "INSERT INTO counselors (counselor_id, specialties, languages, specialties_lc,"
        " languages_lc, level, bio, credentials, updated_at)"
        " VALUES ($1::uuid,"
        " ARRAY(SELECT v FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS a(v, i)"
        "       ORDER BY i),"
        " ARRAY(SELECT v FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS a(v, i)"
        "       ORDER BY i),"
        " ARRAY(SELECT lower(v) FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY"
        "       AS a(v, i) ORDER BY i),"
        " ARRAY(SELECT lower(v) FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY"
        "       AS a(v, i) ORDER BY i),"
        " $4, $5, $7, $6::timestamptz)"
        " ON CONFLICT (counselor_id) DO UPDATE SET specialties = EXCLUDED.specialties,"
        " languages = EXCLUDED.languages, specialties_lc = EXCLUDED.specialties_lc,"
        " languages_lc = EXCLUDED.languages_lc, level = EXCLUDED.level, bio = EXCLUDED.bio,"
        " credentials = EXCLUDED.credentials,"
        " updated_at = GREATEST(counselors.updated_at, EXCLUDED.updated_at)",
        id.str(), specialties, languages, d.str("level"), d.str("bio"),
        format_rfc3339(e.occurred_at), d.optional_str("credentials").value_or(""));
  }

  // Each decision touches only its own column, so it commutes with the account stream's
  // registration (another partition).
  static void admin_decision(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    const bool verified = e.type == "counselor.verified";
    const char* column = verified ? "verified" : "suspended";
    const bool value = verified || e.type == "counselor.suspended";
    exec_prepared_sql0(tx,
                       std::string("INSERT INTO counselors (counselor_id, ") + column +
                           ", updated_at) VALUES ($1::uuid, $2, $3::timestamptz)"
                           " ON CONFLICT (counselor_id) DO UPDATE SET " +
                           column + " = EXCLUDED." + column +
                           ", updated_at = GREATEST(counselors.updated_at, EXCLUDED.updated_at)",
                       d.uuid("counselor_id").str(), value, format_rfc3339(e.occurred_at));
  }

  // The batch's reviews go in with one statement, and the rating of each counsellor they name is
  // recomputed with one more, written after it (bulk_rows.hpp). Recomputed from the reviews
  // table rather than adjusted: a replayed event inserts nothing, and the result is exact
  // whatever the order of events.
  static constexpr const char* kInsertReviews =
      "INSERT INTO reviews (review_id, counselor_id, session_id, client_id, rating, comment,"
      " created_at) SELECT r.review_id::uuid, r.counselor_id::uuid, r.session_id::uuid,"
      " r.client_id::uuid, r.rating::smallint, r.comment, r.at::timestamptz"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
      " $7::text[]) AS r(review_id, counselor_id, session_id, client_id, rating, comment, at)"
      " ON CONFLICT DO NOTHING";
  // A counsellor whose review was not inserted (its session already reviewed elsewhere) may
  // have none: count 0 and no rating, as an aggregate over no rows gives.
  static constexpr const char* kRateCounselors =
      "INSERT INTO counselors (counselor_id, rating, review_count, updated_at)"
      " SELECT c.id::uuid, round(avg(r.rating), 2), count(r.rating), c.at"
      " FROM (SELECT id, max(at::timestamptz) AS at FROM unnest($1::text[], $2::text[])"
      " AS u(id, at) GROUP BY id) c LEFT JOIN reviews r ON r.counselor_id = c.id::uuid"
      " GROUP BY c.id, c.at"
      " ON CONFLICT (counselor_id) DO UPDATE SET rating = EXCLUDED.rating,"
      " review_count = EXCLUDED.review_count,"
      " updated_at = GREATEST(counselors.updated_at, EXCLUDED.updated_at)";

  static BulkRows& new_reviews(ApplyContext& ctx) { return ctx.bulk.rows(kInsertReviews, 7); }

  static void review_submitted(const EventEnvelope& e, ApplyContext& ctx) {
    EventData d(e);
    const Uuid counselor = d.uuid("counselor_id");
    const Uuid client = d.uuid("client_id");
    const auto rating = d.integer("rating");
    if (rating < counselor::kMinRating || rating > counselor::kMaxRating)
      throw BadEventData(e.type + ": rating " + std::to_string(rating) + " is not " +
                         std::to_string(counselor::kMinRating) + " to " +
                         std::to_string(counselor::kMaxRating));
    const auto at = format_rfc3339(e.occurred_at);
    new_reviews(ctx).add({d.uuid("review_id").str(), counselor.str(), d.uuid("session_id").str(),
                          client.str(), std::to_string(rating),
                          ctx.decryptor.decrypt(client, d.str("comment")), at});
    ctx.bulk.rows(kRateCounselors, 2).written_last().add({counselor.str(), at});
  }

  static void availability_set(pqxx::work& tx, const EventEnvelope& e) {
    EventData d(e);
    const Uuid id = d.uuid("counselor_id");
    const std::string time_zone = d.str("time_zone");
    const bool has_window = offers_any_window(d.root());
    const auto at = format_rfc3339(e.occurred_at);
    // Stored exactly as calendar::parse_availability reads it: the event data without the id.
    exec_prepared_sql0(
        tx,
        "INSERT INTO counselor_availability (counselor_id, availability, updated_at)"
        " VALUES ($1::uuid, $2::jsonb - 'counselor_id', $3::timestamptz)"
        " ON CONFLICT (counselor_id) DO UPDATE SET availability = EXCLUDED.availability,"
        " updated_at = EXCLUDED.updated_at",
        id.str(), e.data_json, at);
    exec_prepared_sql0(
        tx,
        "INSERT INTO counselors (counselor_id, has_availability, time_zone, updated_at)"
        " VALUES ($1::uuid, $2, $3, $4::timestamptz)"
        " ON CONFLICT (counselor_id) DO UPDATE SET has_availability = EXCLUDED.has_availability,"
        " time_zone = EXCLUDED.time_zone,"
        " updated_at = GREATEST(counselors.updated_at, EXCLUDED.updated_at)",
        id.str(), has_window, time_zone, at);
  }
};

}  // namespace

std::unique_ptr<Projection> make_counselors_projection() {
  return std::make_unique<CounselorsProjection>();
}

}  // namespace counsel::projections
