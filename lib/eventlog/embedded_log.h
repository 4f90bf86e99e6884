// The embedded event log: a durable, single-node log stored in RocksDB, for
// strata-server when no Kafka is configured. One process owns the directory.
//
// Appends from many threads are group-committed: the first waiting append
// writes the records of all the others with one fsync (LevelDB's scheme), so
// Append() returns only durable records while concurrent callers share the
// cost of the sync, and a lone append costs no hand-over to another thread.
#pragma once

#include <memory>
#include <string>

#include "eventlog/event_log.h"

namespace strata::eventlog {

struct EmbeddedLogOptions {
  std::string dir;
  // Partition count used when the log is created; an existing log keeps its own.
  int32_t partitions = 8;
  // fsync each batch (default). Tests of crash behaviour keep this on.
  bool sync = true;
};

absl::StatusOr<std::unique_ptr<EventLog>> OpenEmbeddedLog(const EmbeddedLogOptions& options);

// Serialized form of a record's payload in the embedded store (exposed for tests).
std::string EncodeStoredRecord(const Record& record);
bool DecodeStoredRecord(std::string_view data, Record* record);

}  // namespace strata::eventlog
