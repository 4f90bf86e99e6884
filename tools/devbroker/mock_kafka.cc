#include "devbroker/mock_kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace strata::devbroker {

struct MockKafka::Impl {
  rd_kafka_t* rk = nullptr;  // owner of the mock cluster
  rd_kafka_mock_cluster_t* cluster = nullptr;
  int brokers = 0;
  ~Impl() {
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    if (rk) rd_kafka_destroy(rk);
  }
};

namespace {

absl::Status FromErr(rd_kafka_resp_err_t err, std::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": ", rd_kafka_err2str(err)));
}

// Kafka protocol API keys for the requests tests usually want to fail.
absl::StatusOr<int16_t> ApiKey(std::string api) {
  api = absl::AsciiStrToLower(api);
  if (api == "produce") return 0;
  if (api == "fetch") return 1;
  if (api == "listoffsets") return 2;
  if (api == "metadata") return 3;
  if (api == "initproducerid") return 22;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown api '", api, "' (produce, fetch, listoffsets, metadata, initproducerid)"));
}

absl::StatusOr<rd_kafka_resp_err_t> ErrorByName(std::string name) {
  name = absl::AsciiStrToUpper(name);
  const struct rd_kafka_err_desc* descs;
  size_t cnt;
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; ++i) {
    if (!descs[i].name) continue;
    std::string n = descs[i].name;
    if (n == name || n == "_" + name) return descs[i].code;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown kafka error name '", name, "'"));
}

}  // namespace

MockKafka::MockKafka(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MockKafka::~MockKafka() = default;

absl::StatusOr<std::unique_ptr<MockKafka>> MockKafka::Start(int brokers, const std::string& topic,
                                                            int partitions) {
  if (brokers < 1) return absl::InvalidArgumentError("at least one broker");
  auto impl = std::make_unique<Impl>();
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!impl->rk) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("rd_kafka_new: ", err));
  }
  impl->cluster = rd_kafka_mock_cluster_new(impl->rk, brokers);
  if (!impl->cluster) return absl::InternalError("cannot start the mock cluster");
  impl->brokers = brokers;
  std::unique_ptr<MockKafka> mk(new MockKafka(std::move(impl)));
  if (!topic.empty()) {
    if (absl::Status s = mk->CreateTopic(topic, partitions); !s.ok()) return s;
  }
  return mk;
}

std::string MockKafka::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

absl::Status MockKafka::SetBrokerDown(int id) {
  return FromErr(rd_kafka_mock_broker_set_down(impl_->cluster, id), "broker down");
}
absl::Status MockKafka::SetBrokerUp(int id) {
  return FromErr(rd_kafka_mock_broker_set_up(impl_->cluster, id), "broker up");
}
absl::Status MockKafka::SetBrokerRtt(int id, int rtt_ms) {
  return FromErr(rd_kafka_mock_broker_set_rtt(impl_->cluster, id, rtt_ms), "broker rtt");
}
absl::Status MockKafka::CreateTopic(const std::string& topic, int partitions) {
  return FromErr(rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions,
                                            std::min(3, impl_->brokers)),
                 "create topic");
}

absl::Status MockKafka::PushRequestErrors(const std::string& api, int count,
                                          const std::string& error) {
  auto key = ApiKey(api);
  if (!key.ok()) return key.status();
  auto code = ErrorByName(error);
  if (!code.ok()) return code.status();
  if (count < 1) return absl::InvalidArgumentError("count must be at least 1");
  std::vector<rd_kafka_resp_err_t> errs(count, *code);
  rd_kafka_mock_push_request_errors_array(impl_->cluster, *key, errs.size(), errs.data());
  return absl::OkStatus();
}

absl::StatusOr<std::string> MockKafka::Control(const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  int id = 0, n = 0;
  std::string a, b;
  absl::Status s;
  if (cmd == "down" && (in >> id)) {
    s = SetBrokerDown(id);
    if (s.ok()) return absl::StrCat("broker ", id, " down");
  } else if (cmd == "up" && (in >> id)) {
    s = SetBrokerUp(id);
    if (s.ok()) return absl::StrCat("broker ", id, " up");
  } else if (cmd == "rtt" && (in >> id >> n)) {
    s = SetBrokerRtt(id, n);
    if (s.ok()) return absl::StrCat("broker ", id, " rtt ", n, "ms");
  } else if (cmd == "errors" && (in >> a >> n >> b)) {
    s = PushRequestErrors(a, n, b);
    if (s.ok()) return absl::StrCat("next ", n, " ", a, " requests fail with ", b);
  } else if (cmd == "topic" && (in >> a >> n)) {
    s = CreateTopic(a, n);
    if (s.ok()) return absl::StrCat("topic ", a, " with ", n, " partitions");
  } else {
    return absl::InvalidArgumentError(
        "commands: down ID | up ID | rtt ID MS | errors API COUNT ERROR | topic NAME PARTITIONS");
  }
  return s;
}

}  // namespace strata::devbroker
