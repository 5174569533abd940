#include "bench_inputs.hpp"

#include <rapidjson/document.h>
#include <rapidjson/istreamwrapper.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace counsel::bench {
namespace {

std::string string_member(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString()) return "";
  return {it->value.GetString(), it->value.GetStringLength()};
}

long long int_member(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsNumber()) return 0;
  return it->value.IsInt64() ? it->value.GetInt64() : static_cast<long long>(it->value.GetDouble());
}

std::vector<Person> people(const rapidjson::Value& doc, const char* name) {
  std::vector<Person> out;
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd() || !it->value.IsArray()) return out;
  for (auto& p : it->value.GetArray()) {
    if (!p.IsObject()) continue;
    out.push_back({string_member(p, "id"), string_member(p, "email")});
  }
  return out;
}

}  // namespace

Manifest read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the manifest " + path);
  rapidjson::IStreamWrapper wrapped(in);
  rapidjson::Document doc;
  doc.ParseStream(wrapped);
  if (doc.HasParseError() || !doc.IsObject())
    throw std::runtime_error("the manifest " + path + " is not a JSON object");
  Manifest m;
  m.password = string_member(doc, "password");
  m.counselors = people(doc, "counselors");
  m.clients = people(doc, "clients");
  if (auto it = doc.FindMember("chat_rooms"); it != doc.MemberEnd() && it->value.IsArray()) {
    for (auto& r : it->value.GetArray()) {
      if (!r.IsObject()) continue;
      m.chat_rooms.push_back({string_member(r, "room_id"), string_member(r, "client_email"),
                              string_member(r, "counselor_email")});
    }
  }
  m.events = int_member(doc, "events");
  m.sessions = int_member(doc, "sessions");
  m.bookable_from = string_member(doc, "bookable_from");
  m.slots_file = string_member(doc, "slots_file");
  if (m.password.empty()) throw std::runtime_error("the manifest " + path + " has no password");
  return m;
}

std::vector<Slot> read_slots(const std::string& path, size_t offset, size_t count) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the slots file " + path);
  std::vector<Slot> out;
  std::string line;
  size_t index = 0;
  while (out.size() < count && std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (index++ < offset) continue;
    const auto a = line.find('\t');
    const auto b = a == std::string::npos ? a : line.find('\t', a + 1);
    if (b == std::string::npos) throw std::runtime_error("bad line in " + path + ": " + line);
    std::string starts = line.substr(b + 1);
    while (!starts.empty() && (starts.back() == '\r' || starts.back() == ' ')) starts.pop_back();
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), std::move(starts)});
  }
  return out;
}

TokenCache::TokenCache(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos) tokens_[line.substr(0, tab)] = line.substr(tab + 1);
  }
}

const std::string* TokenCache::find(const std::string& email) const {
  auto it = tokens_.find(email);
  return it == tokens_.end() ? nullptr : &it->second;
}

void TokenCache::put(const std::string& email, const std::string& token) {
  tokens_[email] = token;
}

void TokenCache::save() const {
  if (path_.empty()) return;
  const std::string temp = path_ + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + temp);
    for (auto& [email, token] : tokens_) out << email << '\t' << token << '\n';
  }
  if (std::rename(temp.c_str(), path_.c_str()) != 0)
    throw std::runtime_error("cannot replace " + path_);
}

std::vector<std::string> read_lines(const std::string& path, size_t limit) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> out;
  std::string line;
  while (out.size() < limit && std::getline(in, line))
    if (!line.empty()) out.push_back(std::move(line));
  if (out.empty()) throw std::runtime_error(path + " holds no lines");
  return out;
}

std::string json_string_member(const std::string& json, const std::string& name) {
  const std::string needle = "\"" + name + "\":\"";
  const auto at = json.find(needle);
  if (at == std::string::npos) return "";
  const auto start = at + needle.size();
  const auto end = json.find('"', start);
  return end == std::string::npos ? "" : json.substr(start, end - start);
}

}  // namespace counsel::bench
