// MockKafka: librdkafka's in-memory mock cluster on loopback, a real
// Kafka-protocol broker for tests and development (nothing is persisted).
// Used in-process by tests and by the strata-devbroker binary.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace strata::devbroker {

class MockKafka {
 public:
  ~MockKafka();
  // Starts `brokers` brokers on 127.0.0.1 and creates `topic` with
  // `partitions` partitions (replication factor min(3, brokers)).
  static absl::StatusOr<std::unique_ptr<MockKafka>> Start(int brokers, const std::string& topic,
                                                          int partitions);

  // Comma-separated host:port list for bootstrap.servers.
  std::string bootstrap() const;

  // Fault injection. Broker ids start at 1; -1 means every broker.
  absl::Status SetBrokerDown(int broker_id);
  absl::Status SetBrokerUp(int broker_id);
  absl::Status SetBrokerRtt(int broker_id, int rtt_ms);
  // The next `count` requests of `api` fail with the Kafka error named `error`
  // (e.g. api "produce", error "NOT_ENOUGH_REPLICAS" or "TRANSPORT" for a disconnect).
  absl::Status PushRequestErrors(const std::string& api, int count, const std::string& error);
  absl::Status CreateTopic(const std::string& topic, int partitions);

  // Applies one control command line, as accepted on strata-devbroker's stdin:
  //   down ID | up ID | rtt ID MS | errors API COUNT ERROR | topic NAME PARTITIONS
  // Returns a one-line description of what was done.
  absl::StatusOr<std::string> Control(const std::string& line);

 private:
  struct Impl;
  explicit MockKafka(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::devbroker
