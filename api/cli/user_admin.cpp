#include "api/cli/user_admin.hpp"

#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "api/account_registration.hpp"

namespace counsel::api {
namespace {

// One line from `in`; on a terminal without echo, so the password is not shown.
std::string read_secret_line(std::istream& in, bool terminal, std::ostream& err,
                             const char* prompt) {
  termios saved{};
  const bool hide = terminal && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (terminal) err << prompt << std::flush;
  if (hide) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(in, line);
  if (hide) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    err << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int create_admin(Runtime& runtime, const Config& config, std::istream& in, bool terminal,
                 std::ostream& out, std::ostream& err) {
  if (config.email.empty()) {
    err << "counsel: users create-admin needs --email\n";
    return 2;
  }
  std::string password = read_secret_line(in, terminal, err, "Password: ");
  if (terminal && read_secret_line(in, terminal, err, "Password (again): ") != password) {
    err << "counsel: the passwords differ\n";
    return 2;
  }
  json::Document body;
  body.SetObject();
  auto& a = body.GetAllocator();
  body.AddMember("email", json::Value(config.email.c_str(), a), a);
  body.AddMember("password", json::Value(password.c_str(), a), a);
  if (!config.display_name.empty())
    body.AddMember("display_name", json::Value(config.display_name.c_str(), a), a);
  auto account = read_new_account(body, Role::admin);
  if (!account) {
    err << "counsel: " << account.error().detail << "\n";
    return 2;
  }
  HttpRequest request;  // no Idempotency-Key: a fresh id
  auto created =
      register_account(runtime.app(), request, *account, Principal{UserId{}, Role::system});
  if (!created) {
    const auto& e = created.error();
    if (e.code == "command_timeout")
      err << "counsel: no command processor answered; is counsel running (ops/run, or counsel "
             "serve with the same --db and --log)?\n";
    else
      err << "counsel: " << e.code << ": " << e.detail << "\n";
    return 1;
  }
  out << "created admin " << account->email << " (id " << created->id.value().str() << ")\n"
      << "next: sign in (POST /api/v1/auth/login), then set up two-factor authentication "
         "(POST /api/v1/auth/2fa/setup and /confirm): until then the admin token reaches "
         "only /api/v1/auth/2fa/*\n";
  return 0;
}

}  // namespace counsel::api
