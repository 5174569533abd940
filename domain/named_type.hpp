#pragma once
// Strong types: an offset is not a partition, a user id is not a session id.
#include <compare>
#include <functional>
#include <ostream>
#include <utility>

namespace counsel {

template <class T, class Tag>
class named_type {
 public:
  using value_type = T;
  constexpr named_type() = default;
  constexpr explicit named_type(T v) : value_(std::move(v)) {}
  constexpr const T& value() const { return value_; }
  constexpr T& value() { return value_; }
  friend constexpr auto operator<=>(const named_type&, const named_type&) = default;
  friend constexpr bool operator==(const named_type&, const named_type&) = default;

 private:
  T value_{};
};

// Printable when the wrapped value is (test diagnostics, logs).
template <class T, class Tag>
std::ostream& operator<<(std::ostream& os, const named_type<T, Tag>& v) {
  return os << v.value();
}

}  // namespace counsel

template <class T, class Tag>
struct std::hash<counsel::named_type<T, Tag>> {
  size_t operator()(const counsel::named_type<T, Tag>& v) const noexcept {
    return std::hash<T>{}(v.value());
  }
};
