// strata_eventlog: the append-only event log every Strata service talks through.
//
// Contract (both implementations):
//  * The log has a fixed number of partitions. A record's partition is chosen
//    from its key by KeyPartition() (Kafka's murmur2 key partitioner), so all
//    records of one aggregate are totally ordered in one partition.
//  * Append() returns OK only after the record is durable (embedded: fsynced;
//    Kafka: acknowledged by all in-sync replicas, idempotent producer). It
//    never returns OK for a record that was not written. A non-OK result means
//    the record was not written, except where the message says the outcome is
//    unknown (the record may appear in the log later).
//  * A reader returns each partition's records in offset order, starting at
//    the offsets it was opened with, and never skips a record.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace strata::eventlog {

struct Header {
  std::string key;
  std::string value;
};

struct Record {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  // Kafka only: a piece of a record too large for one Kafka record (see
  // "Large records" below), returned with an empty value so that readers
  // see every offset; its record is returned whole at its own offset.
  bool fragment = false;
};

// Large records (Kafka): a value larger than one Kafka record may be
// (LogConfig::max_record_bytes) is written as fragments, each a record under
// the same key with the header kFragmentHeader = "SET INDEX/COUNT" and a piece
// of the value, followed by the record itself: the original headers plus
// kFragmentsHeader = "SET OFFSET,OFFSET,..." (the fragments' offsets in its
// partition, in order) and an empty value. Readers return the fragments as
// Record::fragment and the record whole (its value reassembled, fetched by
// offset when the reader started after its fragments), at the record's
// offset, which is also the position Append returns. Fragments of an append
// that failed midway are never named by a record and stay unread garbage.
inline constexpr char kFragmentHeader[] = "strata-fragment";
inline constexpr char kFragmentsHeader[] = "strata-fragments";

// Where a record sits in the log.
struct Position {
  int32_t partition = 0;
  int64_t offset = 0;
};

// The partition Kafka's default partitioner (murmur2, as in the Java client)
// gives `key` among `partitions`. Integrators can rely on it.
int32_t KeyPartition(std::string_view key, int32_t partitions);
// Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2).
uint32_t KafkaMurmur2(std::string_view data);

class LogReader {
 public:
  virtual ~LogReader() = default;
  // Returns at most `max_records` records that follow the ones already
  // returned, waiting up to `timeout` when none is available (then returns an
  // empty vector). Records of one partition come in offset order.
  // DATA_LOSS: records the reader must deliver no longer exist in the log
  // (deleted by retention); never skipped silently. Other errors are
  // transient and a later Poll may succeed.
  virtual absl::StatusOr<std::vector<Record>> Poll(size_t max_records,
                                                   absl::Duration timeout) = 0;
  // How many records the reader knows to exist beyond those it returned, as
  // of its latest information (no round trip to a broker): 0 means caught up.
  virtual int64_t Backlog() const = 0;
  // Makes a Poll under way return at once with what it has, possibly
  // nothing; when none is under way, the next Poll does. The one method
  // another thread may call while Poll runs (a runner that was handed a
  // record stops waiting for the log with it). Cheap: a flag and a wake-up.
  virtual void Wake() = 0;
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  virtual int32_t partitions() const = 0;
  // The partition records with `key` go to.
  int32_t PartitionFor(std::string_view key) const { return KeyPartition(key, partitions()); }
  // Human-readable description, e.g. "embedded:/var/lib/strata/log".
  virtual std::string Describe() const = 0;

  // Appends one record to partition KeyPartition(key). See the contract above.
  virtual absl::StatusOr<Position> Append(std::string_view key, std::string_view value,
                                          const std::vector<Header>& headers) = 0;

  // The offset the next record appended to `partition` will get (Kafka's
  // high watermark): every record below it is readable.
  virtual absl::StatusOr<int64_t> EndOffset(int32_t partition) = 0;
  // EndOffset of every partition, in one go where the log can (Kafka: one
  // request per broker rather than a round trip per partition).
  virtual absl::StatusOr<std::vector<int64_t>> EndOffsets() {
    std::vector<int64_t> ends;
    for (int32_t p = 0; p < partitions(); ++p) {
      auto end = EndOffset(p);
      if (!end.ok()) return end.status();
      ends.push_back(*end);
    }
    return ends;
  }

  // How a reader waits for new records.
  struct ReaderOptions {
    // Kafka: how long a fetch may wait at the broker for records
    // (fetch.wait.max.ms; a --kafka-property overrides it). librdkafka's mock
    // broker holds every fetch that long even when records arrive, and each
    // fetch costs a round trip: a reader on the command path waits 1 ms, one
    // that gathers events anyway can wait longer and fetch far less often.
    // The embedded log wakes readers as records are appended and ignores it.
    absl::Duration max_wait = absl::Milliseconds(1);
  };
  // A reader of all partitions; partition p starts at start_offsets[p]
  // (missing entries start at 0).
  virtual absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(const std::vector<int64_t>& start_offsets,
                                                                const ReaderOptions& options) = 0;
  absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(const std::vector<int64_t>& start_offsets) {
    return OpenReader(start_offsets, ReaderOptions{});
  }
};

// How to reach the log. Exactly one of kafka_bootstrap / embedded_dir is set.
struct LogConfig {
  std::string kafka_bootstrap;       // e.g. "127.0.0.1:9092"
  std::string topic = "strata.events";
  int32_t partitions = 8;            // used when the log/topic is created
  std::string embedded_dir;          // durable single-node log directory
  // Extra librdkafka properties (TLS, SASL, timeouts), passed through as given.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  // How long Append() keeps retrying a Kafka produce before failing.
  absl::Duration append_timeout = absl::Seconds(10);
  // The largest Kafka record written whole (key, value and headers): larger
  // values are written as fragments (see "Large records"). Kafka's default
  // limit is about 1 MB (broker message.max.bytes 1048588, librdkafka's
  // message.max.bytes 1000000); a kafka property message.max.bytes lowers it.
  size_t max_record_bytes = 1'000'000;
};

absl::StatusOr<std::unique_ptr<EventLog>> OpenEventLog(const LogConfig& config);

}  // namespace strata::eventlog
