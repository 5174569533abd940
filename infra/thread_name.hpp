#pragma once
// Names the calling thread, so that `top -H`, `perf report --sort comm`, gdb and
// /proc/PID/task/*/comm tell counsel's threads apart (an unnamed thread shows as "counsel").
namespace counsel {

// Linux keeps the first 15 characters; longer names are cut there.
void name_this_thread(const char* name) noexcept;

}  // namespace counsel
