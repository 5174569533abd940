#pragma once
// Latency samples in milliseconds and their percentiles (every sample kept: a run holds at most
// a few hundred thousand, and exact percentiles need no histogram tuning).
#include <cstddef>
#include <vector>

namespace counsel::bench {

class Latencies {
 public:
  void add(double ms) {
    samples_.push_back(ms);
    sorted_ = false;
  }
  void merge(const Latencies& other);
  size_t count() const { return samples_.size(); }
  // Nearest-rank percentile, q in [0, 100]; 0 without samples. Sorts on first use.
  double percentile(double q);
  double mean() const;
  double max();

 private:
  std::vector<double> samples_;
  bool sorted_ = true;
};

}  // namespace counsel::bench
