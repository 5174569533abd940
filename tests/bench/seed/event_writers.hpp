#pragma once
// Where the loader's batches of events go: through the log port (Log::append, either engine),
// or, for the postgres engine, straight into its table with COPY, which PostgreSQL ingests
// several times faster than the port's INSERT of unnested arrays (the 1M-event write phase:
// ~45 s against ~80 s on a 2-core machine). Both leave the same rows: records with dense
// offsets per partition and log.heads pointing past them.
#include <memory>
#include <string>
#include <vector>

#include "infra/log/log.hpp"

namespace counsel::bench {

class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Appends the batch (records of one partition keep their order); throws on failure.
  virtual void write(const std::vector<log::OutRecord>& batch) = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<BatchWriter> port_writer(log::Log& log);

// The postgres engine's tables (infra/pg/migrations/001_log.sql): each batch is one
// transaction that checks log.heads still holds the offsets this writer expects (no other
// writer may append meanwhile), COPYs the records and moves the heads past them.
std::unique_ptr<BatchWriter> postgres_copy_writer(const std::string& conninfo);

}  // namespace counsel::bench
