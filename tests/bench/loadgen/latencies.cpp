#include "latencies.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace counsel::bench {

void Latencies::merge(const Latencies& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double Latencies::percentile(double q) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  const double rank = std::ceil(q / 100.0 * static_cast<double>(samples_.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return samples_[std::min(index, samples_.size() - 1)];
}

double Latencies::mean() const {
  if (samples_.empty()) return 0;
  return std::accumulate(samples_.begin(), samples_.end(), 0.0) /
         static_cast<double>(samples_.size());
}

double Latencies::max() {
  return percentile(100);
}

}  // namespace counsel::bench
