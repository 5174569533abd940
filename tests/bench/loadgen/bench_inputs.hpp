#pragma once
// What the load generator reads: the seed's manifest and slots file, the cache of access
// tokens (one sign-in per user per data set, not per run), and sample event payloads for the
// references.
#include <map>
#include <string>
#include <vector>

namespace counsel::bench {

struct Person {
  std::string id;
  std::string email;
};

struct ChatRoom {
  std::string room_id;
  std::string client_email;
  std::string counselor_email;
};

// counsel_bench_seed --manifest PATH writes it (see tests/bench/README.md).
struct Manifest {
  std::string password;
  std::vector<Person> counselors;
  std::vector<Person> clients;
  std::vector<ChatRoom> chat_rooms;
  long long events = 0;
  long long sessions = 0;
  std::string bookable_from;
  std::string slots_file;
};

Manifest read_manifest(const std::string& path);

// One bookable slot: client_email \t counselor_id \t starts_at (RFC 3339).
struct Slot {
  std::string client_email;
  std::string counselor_id;
  std::string starts_at;
};

// Lines [offset, offset + count) of the slots file (fewer at its end).
std::vector<Slot> read_slots(const std::string& path, size_t offset, size_t count);

// email -> access token, kept in a file of "email \t token" lines between runs.
class TokenCache {
 public:
  explicit TokenCache(std::string path);  // empty path: in memory only
  const std::string* find(const std::string& email) const;
  void put(const std::string& email, const std::string& token);
  void save() const;

 private:
  std::string path_;
  std::map<std::string, std::string> tokens_;
};

// The lines of a JSON Lines file (at most `limit`), e.g. `counsel audit replay` output: real
// event envelopes to use as payloads.
std::vector<std::string> read_lines(const std::string& path, size_t limit);

// The value of a top-level string member in a JSON text, or "" (a cheap scan, no parse).
std::string json_string_member(const std::string& json, const std::string& name);

}  // namespace counsel::bench
