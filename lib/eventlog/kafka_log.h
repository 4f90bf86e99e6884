// The Kafka event log (librdkafka): idempotent producer with acks=all and
// low-latency settings; readers assign partitions explicitly and start from
// offsets the caller stored (no consumer-group offset commits).
#pragma once

#include "eventlog/event_log.h"

namespace strata::eventlog {

// Connects to `config.kafka_bootstrap`; creates `config.topic` with
// `config.partitions` partitions and infinite retention if it does not exist.
absl::StatusOr<std::unique_ptr<EventLog>> OpenKafkaLog(const LogConfig& config);

}  // namespace strata::eventlog
