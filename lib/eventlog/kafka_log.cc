#include "eventlog/kafka_log.h"

#include <pthread.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "eventlog/embedded_log.h"
#include "spdlog/spdlog.h"

namespace strata::eventlog {
namespace {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK)
    return absl::InvalidArgumentError(absl::StrCat("kafka property ", k, ": ", err));
  return absl::OkStatus();
}

// Builds a librdkafka configuration: our defaults first, then the user's
// pass-through properties (TLS, SASL, ...) which may override them.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(
    const LogConfig& config, const std::vector<std::pair<std::string, std::string>>& defaults) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto apply = [&](const auto& props) -> absl::Status {
    for (const auto& [k, v] : props) {
      if (absl::Status s = SetProperty(conf, k, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  absl::Status s = apply(std::vector<std::pair<std::string, std::string>>{
      {"bootstrap.servers", config.kafka_bootstrap}, {"socket.nagle.disable", "true"},
      {"reconnect.backoff.ms", "20"}, {"reconnect.backoff.max.ms", "1000"},
      {"log_level", "3"}});
  if (s.ok()) s = apply(defaults);
  if (s.ok()) s = apply(config.kafka_properties);
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  return conf;
}

absl::StatusOr<RdKafkaPtr> NewClient(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("cannot create kafka client: ", err));
  }
  return RdKafkaPtr(rk);
}

// Per-message delivery result, filled in by the delivery report callback.
struct Delivery {
  std::promise<absl::StatusOr<Position>> promise;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* d = static_cast<Delivery*>(msg->_private);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->promise.set_value(Position{msg->partition, msg->offset});
    return;
  }
  // With the idempotent producer a failed message may still have been written
  // if the broker got it but the acknowledgement was lost.
  const bool maybe = rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
  d->promise.set_value(absl::UnavailableError(
      absl::StrCat("kafka did not acknowledge the event: ", rd_kafka_err2str(msg->err),
                   maybe ? " (the event may still appear in the log)" : " (not written)")));
}

class KafkaReader : public LogReader {
 public:
  KafkaReader(RdKafkaPtr rk, std::string topic, std::vector<int64_t> next)
      : rk_(std::move(rk)), topic_(std::move(topic)), next_(std::move(next)) {}
  ~KafkaReader() override { rd_kafka_consumer_close(rk_.get()); }

  absl::StatusOr<std::vector<Record>> Poll(size_t max_records, absl::Duration timeout) override {
    std::vector<Record> out;
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    while (out.size() < max_records) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), out.empty() ? wait_ms : 0);
      if (!m) break;
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        // The offset we need is gone (retention, or a smaller log behind the
        // same name). Skipping ahead would silently lose events.
        absl::Status lost = absl::DataLossError(absl::StrCat(
            "kafka partition ", m->partition, " no longer holds offset ", m->offset, " (",
            rd_kafka_message_errstr(m), "): the log lost events this projection needs; "
            "the topic must keep every event (retention.ms=-1)"));
        rd_kafka_message_destroy(m);
        return lost;
      }
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          spdlog::warn("kafka reader: {}", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        if (out.empty()) wait_ms = 0;
        continue;
      }
      Record r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (r.partition >= 0 && r.partition < static_cast<int32_t>(next_.size()))
        next_[r.partition] = r.offset + 1;
      rd_kafka_timestamp_type_t tstype;
      r.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i)
          r.headers.push_back({name, std::string(static_cast<const char*>(val), size)});
      }
      rd_kafka_message_destroy(m);
      out.push_back(std::move(r));
    }
    return out;
  }

  int64_t Backlog() const override {
    int64_t backlog = 0;
    for (size_t p = 0; p < next_.size(); ++p) {
      int64_t low = -1, high = -1;  // as of the latest fetch response
      if (rd_kafka_get_watermark_offsets(rk_.get(), topic_.c_str(), static_cast<int32_t>(p), &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          high > next_[p])
        backlog += high - next_[p];
    }
    return backlog;
  }

 private:
  RdKafkaPtr rk_;
  std::string topic_;
  std::vector<int64_t> next_;  // per partition: offset after the last record returned
};

class KafkaLog : public EventLog {
 public:
  KafkaLog(LogConfig config, RdKafkaPtr producer, int32_t partitions)
      : config_(std::move(config)), producer_(std::move(producer)), partitions_(partitions) {
    poller_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "kafka-acks");
      while (!stop_.load()) rd_kafka_poll(producer_.get(), 50);
    });
  }
  ~KafkaLog() override {
    rd_kafka_flush(producer_.get(), 5000);
    stop_ = true;
    poller_.join();
  }

  int32_t partitions() const override { return partitions_; }
  std::string Describe() const override {
    return absl::StrCat("kafka:", config_.kafka_bootstrap, "/", config_.topic);
  }

  absl::StatusOr<Position> Append(std::string_view key, std::string_view value,
                                  const std::vector<Header>& headers) override {
    Delivery d;
    auto future = d.promise.get_future();
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const Header& h : headers)
      rd_kafka_header_add(hdrs, h.key.data(), h.key.size(), h.value.data(), h.value.size());
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(config_.topic.c_str()),
        RD_KAFKA_V_PARTITION(KeyPartition(key, partitions_)),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (err) {
      rd_kafka_headers_destroy(hdrs);
      return absl::UnavailableError(
          absl::StrCat("kafka refused the event: ", rd_kafka_err2str(err), " (not written)"));
    }
    // The delivery callback always fires, at the latest after message.timeout.ms.
    return future.get();
  }

  absl::StatusOr<int64_t> EndOffset(int32_t partition) override {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        producer_.get(), config_.topic.c_str(), partition, &lo, &hi, 5000);
    if (err)
      return absl::UnavailableError(
          absl::StrCat("kafka end offset of partition ", partition, ": ", rd_kafka_err2str(err)));
    return hi;
  }

  absl::StatusOr<std::vector<int64_t>> EndOffsets() override {
    // A ListOffsets request for the latest offset (timestamp -1) of every
    // partition, grouped by leader: one round trip per broker.
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions_);
    for (int32_t p = 0; p < partitions_; ++p)
      rd_kafka_topic_partition_list_add(list, config_.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(producer_.get(), list, 5000);
    std::vector<int64_t> ends(partitions_, -1);
    for (int i = 0; !err && i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = list->elems[i];
      if (tp.err) err = tp.err;
      else if (tp.partition >= 0 && tp.partition < partitions_) ends[tp.partition] = tp.offset;
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return absl::UnavailableError(absl::StrCat("kafka end offsets: ", rd_kafka_err2str(err)));
    for (int32_t p = 0; p < partitions_; ++p)
      if (ends[p] < 0) return EventLog::EndOffsets();  // not answered: ask partition by partition
    return ends;
  }

  using EventLog::OpenReader;
  absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(const std::vector<int64_t>& start_offsets,
                                                        const ReaderOptions& options) override {
    static std::atomic<int> reader_seq{0};
    auto conf = MakeConf(config_, {
        // A group id is required by the consumer API, but no offsets are ever
        // committed: projections store their own offsets with their state.
        {"group.id", absl::StrCat("strata-reader-", getpid(), "-", reader_seq++)},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        // Never jump over missing offsets: report them (see Poll).
        {"auto.offset.reset", "error"},
        {"fetch.wait.max.ms", absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.max_wait)))},
        {"fetch.error.backoff.ms", "10"},
        {"fetch.min.bytes", "1"},
        {"isolation.level", "read_uncommitted"},
    });
    if (!conf.ok()) return conf.status();
    auto rk = NewClient(RD_KAFKA_CONSUMER, *conf);
    if (!rk.ok()) return rk.status();
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions_);
    for (int32_t p = 0; p < partitions_; ++p) {
      int64_t start = p < static_cast<int32_t>(start_offsets.size()) ? start_offsets[p] : 0;
      rd_kafka_topic_partition_list_add(list, config_.topic.c_str(), p)->offset = start;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk->get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return absl::UnavailableError(absl::StrCat("kafka assign: ", rd_kafka_err2str(err)));
    std::vector<int64_t> next(partitions_, 0);
    for (int32_t p = 0; p < partitions_ && p < static_cast<int32_t>(start_offsets.size()); ++p)
      next[p] = start_offsets[p];
    return std::unique_ptr<LogReader>(new KafkaReader(std::move(*rk), config_.topic, std::move(next)));
  }

 private:
  LogConfig config_;
  RdKafkaPtr producer_;
  int32_t partitions_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

// Returns the topic's partition count, or 0 when the topic does not exist.
absl::StatusOr<int32_t> TopicPartitions(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (err)
    return absl::UnavailableError(
        absl::StrCat("kafka metadata for ", topic, ": ", rd_kafka_err2str(err)));
  int32_t n = 0;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

absl::Status CreateTopic(rd_kafka_t* rk, const LogConfig& config) {
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(config.topic.c_str(), config.partitions, -1,
                                                  err, sizeof(err));
  if (!nt) return absl::InvalidArgumentError(err);
  // The log is the source of truth: keep it forever.
  rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
  rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 15000);
  absl::Status status = absl::OkStatus();
  if (!ev) {
    status = absl::DeadlineExceededError("kafka CreateTopics timed out");
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t** results =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : nullptr;
    if (rd_kafka_event_error(ev)) {
      status = absl::UnavailableError(rd_kafka_event_error_string(ev));
    } else if (cnt == 1 && rd_kafka_topic_result_error(results[0]) &&
               rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      status = absl::UnavailableError(absl::StrCat("create topic ", config.topic, ": ",
                                                   rd_kafka_topic_result_error_string(results[0])));
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLog>> OpenKafkaLog(const LogConfig& config) {
  auto conf = MakeConf(config, {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "0"},
      {"batch.num.messages", "1000"},
      {"message.timeout.ms", std::to_string(absl::ToInt64Milliseconds(config.append_timeout))},
      {"retry.backoff.ms", "20"},
  });
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(*conf, OnDelivery);
  auto producer = NewClient(RD_KAFKA_PRODUCER, *conf);
  if (!producer.ok()) return producer.status();

  auto partitions = TopicPartitions(producer->get(), config.topic);
  if (!partitions.ok()) return partitions.status();
  if (*partitions == 0) {
    if (absl::Status s = CreateTopic(producer->get(), config); !s.ok()) return s;
    for (int i = 0; i < 50 && *partitions == 0; ++i) {
      partitions = TopicPartitions(producer->get(), config.topic);
      if (!partitions.ok()) return partitions.status();
      if (*partitions == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (*partitions == 0)
      return absl::UnavailableError(absl::StrCat("topic ", config.topic, " did not appear"));
  }
  return std::unique_ptr<EventLog>(new KafkaLog(config, std::move(*producer), *partitions));
}

absl::StatusOr<std::unique_ptr<EventLog>> OpenEventLog(const LogConfig& config) {
  if (!config.kafka_bootstrap.empty() && !config.embedded_dir.empty())
    return absl::InvalidArgumentError("choose either a Kafka bootstrap or an embedded log dir");
  if (!config.kafka_bootstrap.empty()) return OpenKafkaLog(config);
  return OpenEmbeddedLog({.dir = config.embedded_dir, .partitions = config.partitions});
}

}  // namespace strata::eventlog
