#include "eventlog/kafka_log.h"

#include <pthread.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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

const std::string* FindHeader(const std::vector<Header>& headers, std::string_view key) {
  for (const Header& h : headers)
    if (h.key == key) return &h.value;
  return nullptr;
}

// The record a message holds (its headers copied).
Record ToRecord(const rd_kafka_message_t* m) {
  Record r;
  r.partition = m->partition;
  r.offset = m->offset;
  rd_kafka_timestamp_type_t tstype;
  r.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
  if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      r.headers.push_back({name, std::string(static_cast<const char*>(val), size)});
  }
  return r;
}

// kFragmentsHeader: "SET BYTES OFFSET,OFFSET,...".
struct Manifest {
  std::string set;
  size_t bytes = 0;
  std::vector<int64_t> offsets;
};
std::optional<Manifest> ParseManifest(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ' ');
  Manifest m;
  if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &m.bytes)) return std::nullopt;
  m.set = parts[0];
  for (absl::string_view o : absl::StrSplit(parts[2], ',')) {
    int64_t offset = 0;
    if (!absl::SimpleAtoi(o, &offset) || offset < 0) return std::nullopt;
    m.offsets.push_back(offset);
  }
  return m;
}

class KafkaReader : public LogReader {
 public:
  // `side` makes a consumer for fetching fragments by offset (see Reassemble).
  KafkaReader(RdKafkaPtr rk, std::string topic, std::vector<int64_t> next,
              std::function<absl::StatusOr<RdKafkaPtr>()> side)
      : rk_(std::move(rk)), topic_(std::move(topic)), next_(std::move(next)), new_side_(std::move(side)),
        consumer_queue_(rd_kafka_queue_get_consumer(rk_.get())) {}
  ~KafkaReader() override {
    if (consumer_queue_) rd_kafka_queue_destroy(consumer_queue_);
    rd_kafka_consumer_close(rk_.get());
    if (side_) rd_kafka_consumer_close(side_.get());
  }

  absl::StatusOr<std::vector<Record>> Poll(size_t max_records, absl::Duration timeout) override {
    std::vector<Record> out;
    // A record whose fragments could not be read last time comes first.
    if (pending_) {
      if (absl::Status s = Reassemble(&*pending_); !s.ok()) return s;
      out.push_back(std::move(*pending_));
      pending_.reset();
    }
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
      Record r = ToRecord(m);
      rd_kafka_message_destroy(m);
      if (r.partition >= 0 && r.partition < static_cast<int32_t>(next_.size()))
        next_[r.partition] = r.offset + 1;
      if (const std::string* f = FindHeader(r.headers, kFragmentHeader)) {
        // Kept for the record that follows (bounded: beyond it, fetched again).
        if (buffered_bytes_ + r.value.size() <= kMaxBufferedBytes) {
          buffered_bytes_ += r.value.size();
          buffered_[{r.partition, r.offset}] = {*f, std::move(r.value)};
        }
        r.value.clear();
        r.fragment = true;
      } else if (FindHeader(r.headers, kFragmentsHeader)) {
        if (absl::Status s = Reassemble(&r); !s.ok()) {
          if (s.code() == absl::StatusCode::kDataLoss || out.empty()) {
            pending_ = std::move(r);
            return s;
          }
          pending_ = std::move(r);  // the records before it go out now
          return out;
        }
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  // rd_kafka_consumer_poll waits on the consumer queue; a yield there makes
  // it return NULL (the flag stays set until a poll sees it).
  void Wake() override {
    if (consumer_queue_) rd_kafka_queue_yield(consumer_queue_);
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
  static constexpr size_t kMaxBufferedBytes = size_t{64} << 20;
  struct Fragment {
    std::string header;  // kFragmentHeader's value
    std::string value;
  };

  // Replaces the value of `r` (a record with kFragmentsHeader) by its
  // fragments', read as they passed or fetched by offset. UNAVAILABLE when
  // they cannot be read now; DATA_LOSS when the log holds something else.
  absl::Status Reassemble(Record* r) {
    const std::optional<Manifest> m = ParseManifest(*FindHeader(r->headers, kFragmentsHeader));
    auto where = [&] { return absl::StrCat("record at ", r->partition, "/", r->offset); };
    if (!m) return absl::DataLossError(absl::StrCat(where(), ": unreadable ", kFragmentsHeader, " header"));
    std::vector<int64_t> missing;
    for (int64_t o : m->offsets)
      if (!buffered_.count({r->partition, o})) missing.push_back(o);
    if (!missing.empty())
      if (absl::Status s = Fetch(r->partition, missing); !s.ok()) return s;
    std::string whole;
    whole.reserve(m->bytes);
    for (size_t i = 0; i < m->offsets.size(); ++i) {
      auto it = buffered_.find({r->partition, m->offsets[i]});
      const std::string expected = absl::StrCat(m->set, " ", i, "/", m->offsets.size());
      if (it == buffered_.end() || it->second.header != expected)
        return absl::DataLossError(absl::StrCat(where(), ": fragment ", i, " at offset ", m->offsets[i],
                                                " is missing or belongs to another record"));
      whole += it->second.value;
    }
    if (whole.size() != m->bytes)
      return absl::DataLossError(
          absl::StrCat(where(), ": fragments hold ", whole.size(), " bytes, the record says ", m->bytes));
    for (int64_t o : m->offsets) {
      auto it = buffered_.find({r->partition, o});
      buffered_bytes_ -= std::min(buffered_bytes_, it->second.value.size());
      buffered_.erase(it);
    }
    r->value = std::move(whole);
    return absl::OkStatus();
  }

  // Reads the records at `offsets` of `partition` into buffered_ with a
  // consumer of its own (the main one's position is not disturbed).
  absl::Status Fetch(int32_t partition, const std::vector<int64_t>& offsets) {
    if (!side_) {
      auto side = new_side_();
      if (!side.ok()) return side.status();
      side_ = std::move(*side);
    }
    const int64_t first = *std::min_element(offsets.begin(), offsets.end());
    const int64_t last = *std::max_element(offsets.begin(), offsets.end());
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), partition)->offset = first;
    rd_kafka_resp_err_t err = rd_kafka_assign(side_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return absl::UnavailableError(absl::StrCat("kafka assign for fragments: ", rd_kafka_err2str(err)));
    std::set<int64_t> wanted(offsets.begin(), offsets.end());
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    absl::Status status = absl::OkStatus();
    while (!wanted.empty()) {
      if (absl::Now() > deadline) {
        status = absl::UnavailableError(absl::StrCat("reading the fragments of a large record in partition ",
                                                     partition, " timed out"));
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(side_.get(), 100);
      if (!m) continue;
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
          status = absl::DataLossError(absl::StrCat("kafka partition ", partition, " no longer holds offset ",
                                                    m->offset, ", a fragment of a large record"));
        rd_kafka_message_destroy(m);
        if (!status.ok()) break;
        continue;
      }
      Record f = ToRecord(m);
      rd_kafka_message_destroy(m);
      if (f.partition != partition) continue;
      if (wanted.erase(f.offset)) {
        const std::string* h = FindHeader(f.headers, kFragmentHeader);
        buffered_bytes_ += f.value.size();
        buffered_[{partition, f.offset}] = {h ? *h : "", std::move(f.value)};
      }
      if (f.offset >= last) break;
    }
    rd_kafka_assign(side_.get(), nullptr);
    if (status.ok() && !wanted.empty())
      status = absl::DataLossError(absl::StrCat("kafka partition ", partition, " has no record at offset ",
                                                *wanted.begin(), ", a fragment of a large record"));
    return status;
  }

  RdKafkaPtr rk_;
  std::string topic_;
  std::vector<int64_t> next_;  // per partition: offset after the last record returned
  std::function<absl::StatusOr<RdKafkaPtr>()> new_side_;
  // The queue rd_kafka_consumer_poll waits on (rk_ has a group id, so it is
  // the group's queue); Wake yields it. Released before rk_ closes.
  rd_kafka_queue_t* consumer_queue_;
  RdKafkaPtr side_;                                              // made on first use
  std::map<std::pair<int32_t, int64_t>, Fragment> buffered_;     // (partition, offset)
  size_t buffered_bytes_ = 0;
  std::optional<Record> pending_;  // a record whose fragments could not be read yet
};

class KafkaLog : public EventLog {
 public:
  KafkaLog(LogConfig config, RdKafkaPtr producer, int32_t partitions)
      : config_(std::move(config)), producer_(std::move(producer)), partitions_(partitions) {
    limit_ = config_.max_record_bytes;
    for (const auto& [k, v] : config_.kafka_properties) {
      size_t n = 0;
      if (k == "message.max.bytes" && absl::SimpleAtoi(v, &n)) limit_ = std::min(limit_, n);
    }
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
    size_t size = key.size() + value.size() + kRecordOverhead;
    for (const Header& h : headers) size += h.key.size() + h.value.size() + 8;
    if (size <= limit_) {
      Delivery d;
      auto future = d.promise.get_future();
      if (absl::Status s = Produce(key, value, headers, &d); !s.ok()) return s;
      // The delivery callback always fires, at the latest after message.timeout.ms.
      return future.get();
    }
    return AppendFragmented(key, value, headers);
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
    // Fragments of a large record the reader started after are fetched with
    // a consumer like this one.
    auto side = [config = config_]() -> absl::StatusOr<RdKafkaPtr> {
      static std::atomic<int> side_seq{0};
      auto conf = MakeConf(config, {{"group.id", absl::StrCat("strata-fragments-", getpid(), "-", side_seq++)},
                                    {"enable.auto.commit", "false"},
                                    {"enable.auto.offset.store", "false"},
                                    {"enable.partition.eof", "false"},
                                    {"auto.offset.reset", "error"},
                                    {"fetch.wait.max.ms", "10"}});
      if (!conf.ok()) return conf.status();
      return NewClient(RD_KAFKA_CONSUMER, *conf);
    };
    return std::unique_ptr<LogReader>(
        new KafkaReader(std::move(*rk), config_.topic, std::move(next), std::move(side)));
  }

 private:
  // Key, value and headers aside, what a record costs in a produce request.
  static constexpr size_t kRecordOverhead = 128;

  // Hands one record to librdkafka; `d` gets its delivery result.
  absl::Status Produce(std::string_view key, std::string_view value, const std::vector<Header>& headers,
                       Delivery* d) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const Header& h : headers)
      rd_kafka_header_add(hdrs, h.key.data(), h.key.size(), h.value.data(), h.value.size());
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(config_.topic.c_str()),
        RD_KAFKA_V_PARTITION(KeyPartition(key, partitions_)),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err) {
      rd_kafka_headers_destroy(hdrs);
      return absl::UnavailableError(
          absl::StrCat("kafka refused the event: ", rd_kafka_err2str(err), " (not written)"));
    }
    return absl::OkStatus();
  }

  // See "Large records" in event_log.h. The fragments go out together (the
  // idempotent producer keeps their order); the record that names them is
  // written only once all are acknowledged, so a failure leaves no record.
  absl::StatusOr<Position> AppendFragmented(std::string_view key, std::string_view value,
                                            const std::vector<Header>& headers) {
    if (limit_ < key.size() + 4 * kRecordOverhead + 1024)
      return absl::InvalidArgumentError(absl::StrCat("max record size ", limit_, " is too small for key ", std::string(key)));
    const size_t piece = limit_ - key.size() - 2 * kRecordOverhead;
    const size_t count = (value.size() + piece - 1) / piece;
    static std::atomic<uint64_t> seq{0};
    const std::string set = absl::StrCat(absl::Hex(std::random_device{}() ^ (static_cast<uint64_t>(getpid()) << 32)), "-", seq++);
    std::vector<std::unique_ptr<Delivery>> deliveries;
    std::vector<std::future<absl::StatusOr<Position>>> futures;
    absl::Status produced = absl::OkStatus();
    for (size_t i = 0; i < count && produced.ok(); ++i) {
      deliveries.push_back(std::make_unique<Delivery>());
      futures.push_back(deliveries.back()->promise.get_future());
      produced = Produce(key, value.substr(i * piece, piece),
                         {{kFragmentHeader, absl::StrCat(set, " ", i, "/", count)}}, deliveries.back().get());
      if (!produced.ok()) futures.pop_back();
    }
    std::vector<int64_t> offsets;
    for (auto& f : futures) {  // every handed-over fragment reports before its Delivery goes
      absl::StatusOr<Position> p = f.get();
      if (!p.ok() && produced.ok()) produced = p.status();
      if (p.ok()) offsets.push_back(p->offset);
    }
    if (!produced.ok())
      return absl::UnavailableError(absl::StrCat("a fragment of a large event (", value.size(),
                                                 " bytes) was not written: ", produced.message(),
                                                 "; the event was not written"));
    std::vector<Header> named = headers;
    named.push_back({kFragmentsHeader, absl::StrCat(set, " ", value.size(), " ", absl::StrJoin(offsets, ","))});
    Delivery d;
    auto future = d.promise.get_future();
    if (absl::Status s = Produce(key, "", named, &d); !s.ok()) return s;
    return future.get();
  }

  LogConfig config_;
  size_t limit_ = 0;  // see LogConfig::max_record_bytes
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
