#include "api/cli/demo_data.hpp"

#include <stdexcept>
#include <vector>

#include "api/handler_support.hpp"
#include "domain/json.hpp"
#include "infra/crypto/field_cipher.hpp"
#include "projections/read_queries.hpp"

namespace counsel::api {
namespace {

struct DemoCounselor {
  const char* email;
  const char* name;
  const char* specialties;  // JSON array text
  const char* languages;
  const char* level;
  const char* bio;
};

const DemoCounselor kCounselors[] = {
    {"thandi.mokoena@demo.counsel", "Thandi Mokoena", R"(["anxiety","depression","grief"])",
     R"(["en","zu"])", "senior", "Clinical psychologist helping adults through anxiety and loss."},
    {"sipho.ndlovu@demo.counsel", "Sipho Ndlovu", R"(["trauma","anxiety","substance_use"])",
     R"(["en","zu","xh"])", "registered", "Registered counsellor with a trauma-informed practice."},
    {"anele.dlamini@demo.counsel", "Anele Dlamini", R"(["relationships","family","depression"])",
     R"(["en","xh"])", "registered", "Family and couples counselling, in English and isiXhosa."},
    {"marike.vanwyk@demo.counsel", "Marike van Wyk", R"(["stress","burnout","anxiety"])",
     R"(["en","af"])", "senior", "Works with professionals facing stress and burnout."},
    {"lerato.khumalo@demo.counsel", "Lerato Khumalo",
     R"(["adolescents","depression","self_esteem"])", R"(["en","st","zu"])", "intern",
     "Supervised intern counsellor for teens and young adults."},
    {"pieter.botha@demo.counsel", "Pieter Botha", R"(["grief","trauma"])", R"(["af","en"])",
     "specialist", "Specialist in bereavement and post-traumatic stress."},
};

const char* kClients[][2] = {
    {"client.one@demo.counsel", "Client One"},
    {"client.two@demo.counsel", "Client Two"},
    {"client.three@demo.counsel", "Client Three"},
};

constexpr const char* kDemoPassword = "demo-password-2026";

HttpResponse call(const Router& router, const std::string& method, const std::string& path,
                  const std::string& body, const std::string& token = "") {
  HttpRequest req;
  req.method = method;
  req.target = path;
  req.path = path;
  req.body = body;
  req.remote_ip = "127.0.0.1";
  req.headers["content-type"] = "application/json";
  if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
  return router.dispatch(req);
}

std::string field(const std::string& body, const char* name) {
  auto doc = json::parse(body);
  if (!doc) return "";
  if (auto v = json::get_string(*doc, name)) return std::string(*v);
  return "";
}

void expect(const HttpResponse& r, int status, const std::string& what) {
  if (r.status != status)
    throw std::runtime_error(what + " failed with " + std::to_string(r.status) + ": " + r.body);
}

// The demo counsellors are verified, as an admin would after checking their credentials, so
// that they can be found and booked. Idempotent: a verified counsellor gets no new event, and
// data loaded by an older version (before verification existed) is brought up to date.
void verify_demo_counselors(AppContext& app) {
  for (const auto& c : kCounselors) {
    auto creds = with_db(app, [&](pqxx::connection& conn) {
      return projections::find_credentials_by_email_hash(conn, crypto::email_hash(c.email));
    });
    auto id = creds ? Uuid::parse(creds->user_id) : std::nullopt;
    if (!id) throw std::runtime_error(std::string("demo counsellor missing: ") + c.email);
    HttpRequest req;
    auto result =
        run_command(app, make_command(req, Principal{UserId{}, Role::system}, "counselor.verify",
                                      counselor_stream(UserId{*id}), "{}"));
    if (!result)
      throw std::runtime_error(std::string("verifying ") + c.email + ": " + result.error().detail);
    wait_for_read_models(app, result->event_positions);
  }
}

}  // namespace

bool seed_demo_data(const Router& router, AppContext& app, std::ostream& out) {
  std::string password = kDemoPassword;
  for (size_t i = 0; i < std::size(kCounselors); ++i) {
    auto& c = kCounselors[i];
    auto reg = call(router, "POST", "/api/v1/auth/register",
                    std::string(R"({"email":")") + c.email + R"(","password":")" + password +
                        R"(","role":"counselor","display_name":")" + c.name + R"("})");
    if (reg.status == 409 && i == 0) {
      verify_demo_counselors(app);
      out << "demo data already loaded\n";
      return false;
    }
    expect(reg, 201, std::string("registering ") + c.email);
    std::string id = field(reg.body, "id");
    auto login =
        call(router, "POST", "/api/v1/auth/login",
             std::string(R"({"email":")") + c.email + R"(","password":")" + password + R"("})");
    expect(login, 200, std::string("logging in ") + c.email);
    std::string token = field(login.body, "access_token");
    expect(call(router, "PUT", "/api/v1/counselors/" + id + "/profile",
                std::string(R"({"specialties":)") + c.specialties + R"(,"languages":)" +
                    c.languages + R"(,"level":")" + c.level + R"(","bio":")" + c.bio + R"("})",
                token),
           200, std::string("profile of ") + c.email);
    std::string weekly = R"([{"day":"mon","start":"08:00","end":"17:00"},)"
                         R"({"day":"tue","start":"08:00","end":"17:00"},)"
                         R"({"day":"wed","start":"08:00","end":"17:00"},)"
                         R"({"day":"thu","start":"08:00","end":"17:00"},)"
                         R"({"day":"fri","start":"08:00","end":"13:00"}])";
    expect(call(router, "PUT", "/api/v1/counselors/" + id + "/availability",
                R"({"time_zone":"Africa/Johannesburg","weekly":)" + weekly +
                    R"(,"buffer_minutes":10,"min_notice_minutes":120,"overrides":[]})",
                token),
           200, std::string("availability of ") + c.email);
    out << "counsellor  " << c.email << "  (" << c.name << ")\n";
  }
  for (auto& c : kClients) {
    auto reg = call(router, "POST", "/api/v1/auth/register",
                    std::string(R"({"email":")") + c[0] + R"(","password":")" + password +
                        R"(","role":"client","display_name":")" + c[1] + R"("})");
    expect(reg, 201, std::string("registering ") + c[0]);
    out << "client      " << c[0] << "\n";
  }
  verify_demo_counselors(app);
  out << "demo password for every demo account: " << password << "\n";
  return true;
}

}  // namespace counsel::api
