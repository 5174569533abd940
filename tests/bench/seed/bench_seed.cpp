// counsel_bench_seed: loads the benchmark data set (issue 7) into an events log.
//
// The events are the real system's: each planned action becomes the command the api would
// have built for that request, decided by the command processor's own PartitionState (one per
// partition), so they carry valid data, per-stream sequences, sealed personal fields and the
// partition's hash chain. They are written in large batches, with no command or result
// records (on postgres by COPY into the engine's table, else through the log port; see
// event_writers.hpp): a `counsel serve` started afterwards rebuilds its aggregates and read
// models from the events alone. Subject keys and claims go to the identity schema first.
//
// Run it on a fresh database (it applies the migrations itself, as `counsel migrate` does)
// and, with --log kafka, on empty topics; start `counsel serve` with the same --db, --log and
// --partitions afterwards. Every account's password is kPassword.
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "api/runtime.hpp"
#include "infra/crypto/password_hasher.hpp"
#include "infra/log/kafka_mock_cluster.hpp"
#include "infra/pg/connection_pool.hpp"
#include "infra/pg/migrations.hpp"
#include "infra/random_ids.hpp"
#include "tests/bench/seed/bench_manifest.hpp"
#include "tests/bench/seed/command_factory.hpp"
#include "tests/bench/seed/event_sink.hpp"
#include "tests/bench/seed/event_writers.hpp"
#include "tests/bench/seed/history_plan.hpp"
#include "tests/bench/seed/identity_rows.hpp"
#include "tests/bench/seed/population.hpp"
#include "tests/bench/seed/seed_options.hpp"

namespace {

using namespace counsel;
using namespace counsel::bench;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

crypto::PasswordHashCost hash_cost(const std::string& name) {
  if (name == "min") return crypto::PasswordHashCost::minimum();
  if (name == "moderate")
    return crypto::PasswordHashCost{crypto_pwhash_OPSLIMIT_MODERATE,
                                    crypto_pwhash_MEMLIMIT_MODERATE};
  return crypto::PasswordHashCost::interactive();
}

// Independent streams of randomness, so that adding a draw in one phase does not reshuffle the
// others.
constexpr uint64_t kCommandSeedSalt = 0xC0FFEE;
constexpr uint64_t kEventSeedSalt = 0xE7E27;
constexpr int kRejectionsShown = 10;

int run(const SeedOptions& o) {
  const auto started = Clock::now();
  const Timeline timeline = make_timeline(now_utc(), o.bookable_from);
  SeedRandom random(o.seed);
  const Population people = make_population(o.counselors, o.clients, timeline, random);
  const HistoryPlan plan = plan_history(people, timeline, o.events, random);
  std::fprintf(stderr,
               "counsel_bench_seed: planned %zu events (%zu sessions, %zu rooms, %zu messages, "
               "%zu patient records) in %.1f s\n",
               plan.actions.size(), plan.sessions.size(), plan.rooms.size(), plan.messages.size(),
               plan.patients.size(), seconds_since(started));

  // One argon2id hash for everyone: hashing each account would take hours.
  const std::string password_hash =
      crypto::PasswordHasher(hash_cost(o.password_hash_cost)).hash(kPassword);

  for (const auto& m : pg::apply_migrations(o.log.db))
    std::fprintf(stderr, "counsel_bench_seed: applied migration %03d_%s\n", m.version,
                 m.name.c_str());
  auto connection = pg::open_connection(o.log.db);
  std::unique_ptr<log::KafkaMockCluster> no_mock;  // --log kafka-mock is refused
  auto log = api::open_log(o.log, &no_mock);
  require_fresh(*log, *connection);
  const auto identity_started = Clock::now();
  write_identity_rows(*connection, people, plan);
  std::fprintf(stderr, "counsel_bench_seed: %zu subject keys and claims stored in %.1f s\n",
               people.counselors.size() + people.clients.size(), seconds_since(identity_started));

  auto writer = o.write == "copy" ? postgres_copy_writer(o.log.db) : port_writer(*log);
  std::fprintf(stderr,
               "counsel_bench_seed: writing %zu events to the %s log (%d partitions) by %s\n",
               plan.actions.size(), log->engine_name().c_str(), log->partition_count(),
               writer->describe().c_str());
  const auto events_started = Clock::now();
  int64_t rejected = 0;
  {
    EventSink sink(
        *log, *writer,
        {o.batch_records, static_cast<int64_t>(plan.actions.size()), o.seed ^ kEventSeedSalt});
    CommandFactory factory(people, plan, password_hash, o.seed ^ kCommandSeedSalt);
    for (const auto& action : plan.actions) {
      const auto cmd = factory.make(action);
      if (auto rejection = sink.decide(cmd, action.at)) {
        if (++rejected <= kRejectionsShown)
          std::fprintf(stderr, "counsel_bench_seed: %s on %s rejected: %s (%s)\n", cmd.type.c_str(),
                       cmd.stream.c_str(), rejection->code.c_str(), rejection->message.c_str());
      }
    }
    sink.finish();
  }
  const double events_seconds = seconds_since(events_started);
  const int64_t events = static_cast<int64_t>(plan.actions.size()) - rejected;

  const std::string slots_path = o.manifest + ".slots.tsv";
  const int64_t slots = write_slots_file(slots_path, people, timeline, o.slots);
  write_manifest(o.manifest, people, plan, timeline, events, slots_path);
  if (slots < o.slots)
    std::fprintf(stderr, "counsel_bench_seed: only %lld free slots fit in a year (asked %lld)\n",
                 static_cast<long long>(slots), static_cast<long long>(o.slots));

  std::printf(
      "counsel_bench_seed: %lld events (%d counsellors, %d clients, %zu sessions, %zu rooms, "
      "%zu messages, %zu patient records) written to the %s log in %.1f s (%.0f events/s), "
      "%.1f s in all; manifest %s, %lld slots from %s in %s\n",
      static_cast<long long>(events), o.counselors, o.clients, plan.sessions.size(),
      plan.rooms.size(), plan.messages.size(), plan.patients.size(), log->engine_name().c_str(),
      events_seconds, static_cast<double>(events) / std::max(events_seconds, 1e-9),
      seconds_since(started), o.manifest.c_str(), static_cast<long long>(slots),
      format_date(timeline.bookable_from).c_str(), slots_path.c_str());
  std::fflush(stdout);
  if (rejected > 0) {
    std::fprintf(stderr,
                 "counsel_bench_seed: %lld planned commands were rejected; the data set is valid "
                 "but smaller than asked (a planner bug)\n",
                 static_cast<long long>(rejected));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_seed_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  try {
    return run(*parsed.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "counsel_bench_seed: %s\n", e.what());
    return 1;
  }
}
