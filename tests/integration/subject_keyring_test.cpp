// Subject keys in a real PostgreSQL (identity.subject_keys from the migrations).
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "infra/crypto/field_cipher.hpp"
#include "infra/pg/connection_pool.hpp"
#include "projections/keyring_decryptor.hpp"
#include "tests/integration/test_database.hpp"

using namespace counsel;
using namespace counsel::crypto;

namespace {

Uuid subject_number(int n) {
  Uuid id;
  id.bytes[0] = 0x01;
  id.bytes[6] = 0x70;  // version 7
  id.bytes[8] = 0x80;
  id.bytes[15] = static_cast<uint8_t>(n);
  id.bytes[14] = static_cast<uint8_t>(n >> 8);
  return id;
}

long stored_key_count(pg::PgPool& pool) {
  auto lease = pool.acquire(std::chrono::seconds(5));
  pqxx::read_transaction tx(lease.connection());
  return tx.exec("SELECT count(*) FROM identity.subject_keys WHERE key IS NOT NULL")[0][0]
      .as<long>();
}

// A keyring whose database queries are counted, and another (another process) that makes
// keys behind its back.
struct CountedKeyring {
  testing::TestDatabase db;
  std::unique_ptr<pqxx::connection> connection = pg::open_connection(db.conninfo());
  int queries = 0;
  SubjectKeyring keyring{[this](const SubjectKeyring::ConnectionUser& use) {
    ++queries;
    use(*connection);
  }};
  SubjectKeyring elsewhere{[this](const SubjectKeyring::ConnectionUser& use) { use(*connection); }};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(subject_keyring_test)

BOOST_AUTO_TEST_CASE(creates_once_and_finds_the_same_key) {
  testing::TestDatabase db;
  pg::PgPool pool(db.conninfo(), 2);
  SubjectKeyring keyring(pool);
  const Uuid alice = subject_number(1);

  BOOST_TEST(!keyring.find(alice).has_value());
  const SubjectKey created = keyring.get_or_create(alice);
  BOOST_TEST((keyring.get_or_create(alice) == created));
  BOOST_REQUIRE(keyring.find(alice).has_value());
  BOOST_TEST((*keyring.find(alice) == created));
  BOOST_TEST(stored_key_count(pool) == 1);

  // A second keyring (another process, in effect) reads the stored key, not its cache.
  SubjectKeyring other(pool);
  auto found = other.find(alice);
  BOOST_REQUIRE(found.has_value());
  const std::string sealed = encrypt_field(created, "Alice", alice.str());
  BOOST_TEST(*decrypt_field(*found, sealed, alice.str()) == "Alice");
}

BOOST_AUTO_TEST_CASE(concurrent_creators_agree_on_one_key) {
  testing::TestDatabase db;
  pg::PgPool pool(db.conninfo(), 8);
  const Uuid subject = subject_number(2);
  constexpr int kCreators = 8;
  // Separate keyrings, so no creator is answered from another's cache.
  std::vector<std::unique_ptr<SubjectKeyring>> keyrings;
  for (int i = 0; i < kCreators; ++i) keyrings.push_back(std::make_unique<SubjectKeyring>(pool));
  std::vector<SubjectKey> keys(kCreators);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreators; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      keys[static_cast<size_t>(i)] = keyrings[static_cast<size_t>(i)]->get_or_create(subject);
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  for (const auto& key : keys) BOOST_TEST((key == keys.front()));
  BOOST_TEST(stored_key_count(pool) == 1);
}

BOOST_AUTO_TEST_CASE(erase_shreds_the_key) {
  testing::TestDatabase db;
  pg::PgPool pool(db.conninfo(), 2);
  SubjectKeyring keyring(pool);
  const Uuid bob = subject_number(3);
  const Uuid carol = subject_number(4);
  const SubjectKey bob_key = keyring.get_or_create(bob);
  keyring.get_or_create(carol);
  const std::string sealed = encrypt_field(bob_key, "bob@example.com", bob.str());

  keyring.erase(bob);
  BOOST_TEST(!keyring.find(bob).has_value());
  BOOST_TEST(!SubjectKeyring(pool).find(bob).has_value());
  BOOST_TEST(keyring.find(carol).has_value());  // others untouched
  BOOST_TEST(stored_key_count(pool) == 1);

  // A tombstone stays: no process may create a fresh key for bob (new data would look live).
  BOOST_CHECK_THROW(keyring.get_or_create(bob), SubjectErased);
  BOOST_CHECK_THROW(SubjectKeyring(pool).get_or_create(bob), SubjectErased);
  // Another subject's key never opens bob's ciphertext.
  BOOST_TEST(!decrypt_field(keyring.get_or_create(carol), sealed, bob.str()).has_value());
  // Erasing a subject that never had a key leaves a tombstone too.
  keyring.erase(subject_number(99));
  BOOST_CHECK_THROW(SubjectKeyring(pool).get_or_create(subject_number(99)), SubjectErased);
}

BOOST_AUTO_TEST_CASE(an_erasure_reaches_other_processes_caches) {
  testing::TestDatabase db;
  pg::PgPool pool(db.conninfo(), 3);
  SubjectKeyring here(pool);
  SubjectKeyring elsewhere(pool);  // another process's keyring, with the key cached
  SubjectErasureFollower follower(db.conninfo(), elsewhere);
  follower.start();
  const Uuid dave = subject_number(5);
  here.get_or_create(dave);
  BOOST_REQUIRE(elsewhere.find(dave).has_value());
  BOOST_TEST(elsewhere.cached_count() == 1u);

  here.erase(dave);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!elsewhere.is_erased(dave) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BOOST_TEST(elsewhere.is_erased(dave));
  BOOST_TEST(!elsewhere.find(dave).has_value());
  BOOST_TEST(elsewhere.cached_count() == 0u);
  follower.stop();

  // A follower started later learns earlier erasures from the tombstones.
  SubjectKeyring late(pool);
  SubjectErasureFollower late_follower(db.conninfo(), late);
  late_follower.start();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!late.is_erased(dave) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BOOST_TEST(late.is_erased(dave));
}

BOOST_AUTO_TEST_CASE(cache_is_bounded) {
  testing::TestDatabase db;
  pg::PgPool pool(db.conninfo(), 2);
  SubjectKeyring keyring(pool, 3);
  std::vector<SubjectKey> keys;
  for (int i = 10; i < 16; ++i) keys.push_back(keyring.get_or_create(subject_number(i)));
  BOOST_TEST(keyring.cached_count() == 3u);
  // Evicted entries are reloaded from the database unchanged.
  for (int i = 10; i < 16; ++i) {
    auto found = keyring.find(subject_number(i));
    BOOST_REQUIRE(found.has_value());
    BOOST_TEST((*found == keys[static_cast<size_t>(i - 10)]));
  }
  BOOST_TEST(keyring.cached_count() == 3u);
}

BOOST_AUTO_TEST_CASE(works_through_a_plain_connection_callback) {
  testing::TestDatabase db;
  auto connection = pg::open_connection(db.conninfo());
  SubjectKeyring keyring([&](const SubjectKeyring::ConnectionUser& use) { use(*connection); });
  const Uuid dan = subject_number(5);
  const SubjectKey key = keyring.get_or_create(dan);
  BOOST_TEST((*keyring.find(dan) == key));
}

BOOST_FIXTURE_TEST_CASE(a_prefetch_asks_once_for_keyless_ids_and_find_still_asks, CountedKeyring) {
  const Uuid erin = subject_number(6), session = subject_number(7);
  const SubjectKey key = elsewhere.get_or_create(erin);

  keyring.prefetch({erin, session});
  BOOST_TEST(queries == 1);
  BOOST_TEST(keyring.holds(erin));
  BOOST_TEST(!keyring.holds(session));
  // The id without a key is not asked for again by a prefetch...
  keyring.prefetch({session, erin});
  BOOST_TEST(queries == 1);
  // ...but find() asks, and finds a key made since.
  BOOST_TEST(!keyring.find(session).has_value());
  BOOST_TEST(queries == 2);
  const SubjectKey made_later = elsewhere.get_or_create(session);
  BOOST_REQUIRE(keyring.find(session).has_value());
  BOOST_TEST((*keyring.find(session) == made_later));
  BOOST_TEST((*keyring.find(erin) == key));
}

BOOST_FIXTURE_TEST_CASE(a_decryptor_fetches_a_batchs_keys_only_when_one_is_missing,
                        CountedKeyring) {
  const Uuid held = subject_number(8), first = subject_number(9), second = subject_number(10);
  const SubjectKey held_key = keyring.get_or_create(held);
  const SubjectKey first_key = elsewhere.get_or_create(first);
  const SubjectKey second_key = elsewhere.get_or_create(second);
  projections::KeyringFieldDecryptor decryptor(keyring);
  const int before = queries;

  // Every key the batch needs is held: the hint costs no query.
  decryptor.prefetch({held, first, second, subject_number(11)});
  auto clear = decryptor.decrypt(held, encrypt_field(held_key, "held text", held.str()));
  BOOST_TEST(clear.value_or("") == "held text");
  BOOST_TEST(queries == before);
  // The first key it lacks loads the batch's together: the second needs no query of its own.
  BOOST_TEST(decryptor.decrypt(first, encrypt_field(first_key, "one", first.str())).value_or("") ==
             "one");
  BOOST_TEST(queries == before + 1);
  BOOST_TEST(
      decryptor.decrypt(second, encrypt_field(second_key, "two", second.str())).value_or("") ==
      "two");
  BOOST_TEST(queries == before + 1);
}

BOOST_AUTO_TEST_SUITE_END()
