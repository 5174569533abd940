#pragma once
// Deterministic randomness for the data-set loader: the same --seed gives the same people, the
// same timeline and the same ids (UUIDv7 stamped with the simulated time, as the api would have
// stamped them then). Only the AEAD nonces and the subject keys come from libsodium.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "domain/time.hpp"
#include "domain/uuid.hpp"

namespace counsel::bench {

// xoshiro256** seeded through splitmix64: fast, and good enough for synthetic data.
class SeedRandom {
 public:
  explicit SeedRandom(uint64_t seed) {
    for (auto& word : state_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // [0, 1)
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  // [lo, hi], inclusive.
  int64_t between(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  size_t index(size_t size) { return static_cast<size_t>(next() % size); }
  template <class T>
  const T& pick(const std::vector<T>& values) {
    return values[index(values.size())];
  }
  // A moment in [from, to] (to is clamped to be at least from).
  Timestamp moment(Timestamp from, Timestamp to) {
    return Timestamp{std::chrono::milliseconds{
        between(from.time_since_epoch().count(), std::max(from, to).time_since_epoch().count())}};
  }
  std::chrono::milliseconds span(std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
    return std::chrono::milliseconds{between(lo.count(), hi.count())};
  }

  // A UUIDv7 as infra/random_ids would have made it at `at`.
  Uuid uuid_v7_at(Timestamp at) {
    std::array<uint8_t, 10> random{};
    const uint64_t a = next(), b = next();
    for (size_t i = 0; i < 8; ++i) random[i] = static_cast<uint8_t>(a >> (8 * i));
    random[8] = static_cast<uint8_t>(b);
    random[9] = static_cast<uint8_t>(b >> 8);
    return uuid_v7(at, random);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> state_{};
};

// Picks indices with probability proportional to their weights (cumulative sums + binary
// search), e.g. popular counsellors and frequent clients.
class WeightedPicker {
 public:
  explicit WeightedPicker(const std::vector<double>& weights) {
    cumulative_.reserve(weights.size());
    double total = 0;
    for (double w : weights) cumulative_.push_back(total += std::max(w, 0.0));
    if (cumulative_.empty() || total <= 0) throw std::invalid_argument("no positive weight");
  }
  size_t pick(SeedRandom& random) const {
    const double target = random.unit() * cumulative_.back();
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
    return std::min(static_cast<size_t>(it - cumulative_.begin()), cumulative_.size() - 1);
  }

 private:
  std::vector<double> cumulative_;
};

}  // namespace counsel::bench
