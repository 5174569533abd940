#include "infra/thread_name.hpp"

#include <pthread.h>

#include <cstring>

namespace counsel {

void name_this_thread(const char* name) noexcept {
  char cut[16] = {};
  std::strncpy(cut, name, sizeof cut - 1);
  // Fails only for a name that is too long, which the cut rules out; a name is diagnostics,
  // so nothing else could be done about a failure anyway.
  (void)pthread_setname_np(pthread_self(), cut);
}

}  // namespace counsel
