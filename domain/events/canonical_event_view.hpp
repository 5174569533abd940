#pragma once
// Reads an events-log record in place, for walks over the whole log (`counsel audit verify`),
// where building an EventEnvelope for every record (a DOM parse, the data re-canonicalized, a
// re-encode to get the hash input) cost more than reading the log did.
//
// Only a record that is byte for byte what encode_event writes is viewed. For such a record
// encode_event(decode_event(record)) is the record itself, so event_hash_input() of the decoded
// event is the record without its "hash" member, and every field below is what decode_event
// reads. Any other record (whitespace, another member order, unknown members, escapes or numbers
// the writer would write differently, a malformed id or time) gives nullopt and the caller
// decodes it in full: what a walk reports never depends on which path read a record.
#include <cstdint>
#include <optional>
#include <string_view>

namespace counsel {

struct CanonicalEventView {
  std::string_view id;  // as Uuid::str() writes it
  std::string_view type;
  std::string_view stream;
  std::string_view prev_hash;
  std::string_view hash;
  int64_t sequence = 0;
  int32_t partition = 0;
  int32_t version = 0;
  // event_hash_input() of the decoded event is hash_input_head followed by hash_input_tail.
  std::string_view hash_input_head;
  std::string_view hash_input_tail;
};

std::optional<CanonicalEventView> view_canonical_event(std::string_view record);

// The type of a record as encode_event writes it, read from its end without a parse: the
// members are sorted, so the envelope's "type" and then "version" are last. For skipping records
// a consumer has no use for (a rebuild of one projection reads the whole log); nullopt when the
// end is not that shape, and the caller decodes the record to learn more.
std::optional<std::string_view> peek_event_type(std::string_view record);

}  // namespace counsel
