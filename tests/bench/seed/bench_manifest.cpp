#include "tests/bench/seed/bench_manifest.hpp"

#include <date/tz.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "domain/json.hpp"

namespace counsel::bench {
namespace {

using std::chrono::days;
using std::chrono::minutes;

// Local start times of benchmark slots: 07:00 and every 90 minutes after it, up to 19:00.
constexpr int kFirstSlotMinute = 7 * 60;
constexpr int kSlotStep = 90;
constexpr int kSlotsPerDay = 9;
constexpr int kDaysScanned = 366;

// Writes through a temporary file and renames it, so a reader never sees half a file.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), temp_(path_ + ".tmp") {
    out_.open(temp_, std::ios::trunc);
    if (!out_) throw std::runtime_error("cannot write " + temp_);
  }
  std::ofstream& stream() { return out_; }
  void commit() {
    out_.close();
    if (!out_) throw std::runtime_error("cannot write " + temp_);
    std::filesystem::rename(temp_, path_);
  }

 private:
  std::string path_, temp_;
  std::ofstream out_;
};

}  // namespace

int64_t write_slots_file(const std::string& path, const Population& people,
                         const Timeline& timeline, int64_t wanted) {
  AtomicFile file(path);
  auto& out = file.stream();
  const size_t clients = std::min(kManifestClients, people.clients.size());
  const size_t counselors = people.counselors.size();
  const int64_t quota =
      (wanted + static_cast<int64_t>(counselors) - 1) / static_cast<int64_t>(counselors);
  std::vector<int64_t> given(counselors, 0);
  const date::time_zone* zone = date::locate_zone(kTimeZone);
  int64_t written = 0;
  size_t bucket = 0;
  for (int day = 0; day < kDaysScanned && written < wanted; ++day) {
    const std::chrono::year_month_day date{std::chrono::sys_days{timeline.bookable_from} +
                                           days{day}};
    const date::local_days local{
        date::days{std::chrono::sys_days{date}.time_since_epoch().count()}};
    // Each counsellor's windows that day (holidays and leave already taken out).
    std::vector<std::vector<calendar::Interval>> windows(counselors);
    for (size_t c = 0; c < counselors; ++c)
      windows[c] = calendar::windows_on(people.counselors[c].availability, date);
    for (int g = 0; g < kSlotsPerDay && written < wanted; ++g, ++bucket) {
      const Timestamp start = std::chrono::time_point_cast<std::chrono::milliseconds>(
          zone->to_sys(local + minutes{kFirstSlotMinute + g * kSlotStep}, date::choose::earliest));
      const calendar::Interval slot{start, start + minutes{kSlotMinutes}};
      // One time, each client at most once: nobody is asked to be in two sessions at once.
      size_t next_client = 0;
      for (size_t i = 0; i < counselors && next_client < clients && written < wanted; ++i) {
        const size_t c = (bucket * 7919 + i) % counselors;  // a different first one each time
        if (given[c] >= quota) continue;
        const auto& counselor = people.counselors[c];
        bool inside = false;
        for (const auto& w : windows[c])
          inside = inside || (w.start <= slot.start && slot.end <= w.end);
        // The booking endpoint's own check, as of now: inside a window and past the notice.
        if (!inside ||
            calendar::check_slot(counselor.availability, std::vector<calendar::Interval>{}, slot,
                                 timeline.now) != calendar::SlotProblem::none)
          continue;
        const auto& client = people.clients[(next_client++ + bucket * 31) % clients];
        out << client.email << '\t' << counselor.id.value().str() << '\t'
            << format_rfc3339(slot.start) << '\n';
        ++given[c];
        ++written;
      }
    }
  }
  file.commit();
  return written;
}

void write_manifest(const std::string& path, const Population& people, const HistoryPlan& plan,
                    const Timeline& timeline, int64_t events, const std::string& slots_path) {
  rapidjson::StringBuffer sb;
  json::Writer w(sb);
  auto person = [&](const UserId& id, const std::string& email) {
    w.StartObject();
    json::key(w, "id");
    json::write_string(w, id.value().str());
    json::key(w, "email");
    json::write_string(w, email);
    w.EndObject();
  };
  w.StartObject();
  json::key(w, "password");
  json::write_string(w, kPassword);
  json::key(w, "counselors");
  w.StartArray();
  for (const auto& c : people.counselors) person(c.id, c.email);
  w.EndArray();
  json::key(w, "clients");
  w.StartArray();
  for (size_t i = 0; i < std::min(kManifestClients, people.clients.size()); ++i)
    person(people.clients[i].id, people.clients[i].email);
  w.EndArray();
  // Rooms with a conversation in them; both participants are active accounts.
  json::key(w, "chat_rooms");
  w.StartArray();
  size_t rooms = 0;
  for (const auto& room : plan.rooms) {
    if (rooms == kManifestRooms) break;
    if (room.messages == 0) continue;
    ++rooms;
    w.StartObject();
    json::key(w, "room_id");
    json::write_string(w, room.id.value().str());
    json::key(w, "client_email");
    json::write_string(w, people.clients[room.client].email);
    json::key(w, "counselor_email");
    json::write_string(w, people.counselors[room.counselor].email);
    w.EndObject();
  }
  w.EndArray();
  json::key(w, "events");
  w.Int64(events);
  json::key(w, "sessions");
  w.Int64(static_cast<int64_t>(plan.sessions.size()));
  json::key(w, "bookable_from");
  json::write_string(w, format_date(timeline.bookable_from));
  json::key(w, "slots_file");
  json::write_string(w, slots_path);
  w.EndObject();
  AtomicFile file(path);
  file.stream().write(sb.GetString(), static_cast<std::streamsize>(sb.GetSize()));
  file.stream() << '\n';
  file.commit();
}

}  // namespace counsel::bench
