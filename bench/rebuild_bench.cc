// strata-bench-rebuild: how fast the lock projection rebuilds from the log.
//
// Writes --events events (check-out / check-in cycles over --objects objects,
// each check-in carrying a ~150-byte definition) to a fresh log, then opens
// the lock projection with rebuild and times the replay to the log's end.
//
//   strata-bench-rebuild --backend embedded --events 1000000 --objects 100000 --dir /tmp/rb
//   strata-bench-rebuild --backend kafka    --events 1000000 --objects 100000 --dir /tmp/rb
//
// With --backend embedded the log stays in DIR/log, so `strata-server
// --data-dir DIR` can be started on it afterwards (bench/run.sh measures its
// memory that way). With --backend kafka --bootstrap HOST:PORT the events go
// to that broker (a strata-devbroker) and stay there for servers started on
// it. --write-only writes the log and stops (tests use it to start servers
// on a large repository).
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "devbroker/mock_kafka.h"
#include "eventlog/embedded_log.h"
#include "eventlog/kafka_log.h"
#include "fmt/format.h"
#include "lock/lock_projection.h"
#include "projection/projection.h"
#include "bench_events.h"
#include "figure.h"

namespace {

using namespace strata;
using bench::MakeEvent;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-rebuild: lock projection rebuild speed"};
  std::string backend = "embedded", dir = "/tmp/strata-bench-rebuild";
  int64_t events = 1'000'000, objects = 100'000;
  int partitions = 8;
  bool reuse = false, write_only = false;
  std::string bootstrap;
  projection::RunnerOptions runner_options;
  size_t uncommitted_mb = runner_options.max_uncommitted_bytes >> 20;
  app.add_option("--max-uncommitted-events", runner_options.max_uncommitted_events,
                 "commit at least every N events while replaying");
  app.add_option("--max-uncommitted-mb", uncommitted_mb,
                 "commit when the projection holds this much uncommitted state");
  app.add_flag("--reuse", reuse, "embedded: replay the log already in DIR/log");
  app.add_option("--backend", backend)->check(CLI::IsMember({"embedded", "kafka"}));
  app.add_option("--events", events)->check(CLI::Range(int64_t{1}, int64_t{20'000'000}));
  app.add_option("--objects", objects);
  app.add_option("--partitions", partitions);
  app.add_option("--dir", dir);
  app.add_option("--bootstrap", bootstrap, "kafka: write to this broker (its topic strata.events) instead of a "
                                           "mock cluster of this process");
  app.add_flag("--write-only", write_only, "write the log, do not replay it");
  bool legacy = false;
  app.add_flag("--legacy-events", legacy,
               "check-ins without references, as logs written before issue 20 (the lock projection parses them)");
  CLI11_PARSE(app, argc, argv);
  int64_t per_object = std::max<int64_t>(1, events / objects);
  events = per_object * objects;

  if (!reuse) std::filesystem::remove_all(dir);
  std::unique_ptr<devbroker::MockKafka> mock;
  std::unique_ptr<eventlog::EventLog> log;
  const auto t_write = std::chrono::steady_clock::now();
  if (backend == "embedded") {
    // The fixture is written without fsync; durability is not what is measured.
    auto l = eventlog::OpenEmbeddedLog({.dir = dir + "/log", .partitions = partitions, .sync = false});
    if (!l.ok()) return std::cerr << l.status() << "\n", 1;
    log = std::move(*l);
    if (reuse) per_object = 0;
    // Round i writes event i of every object, so one object's events are
    // spread over the whole log (no help from batching them together).
    const int threads = 16;
    for (int64_t i = 0; i < per_object; ++i) {
      std::vector<std::thread> ts;
      for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t, i] {
          for (int64_t o = t; o < objects; o += threads) {
            v1::Event e = MakeEvent(o, i, legacy);
            (void)log->Append(e.aggregate(), e.SerializeAsString(), {});
          }
        });
      for (auto& t : ts) t.join();
    }
  } else {
    if (bootstrap.empty()) {
      auto m = devbroker::MockKafka::Start(1, "strata.events", partitions);
      if (!m.ok()) return std::cerr << m.status() << "\n", 1;
      mock = std::move(*m);
      bootstrap = mock->bootstrap();
    }
    // Fill the topic with a plain asynchronous producer, in per-object order.
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) return std::cerr << "kafka producer: " << err << "\n", 1;
    {
      // The topic's partition count decides where each key goes.
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_topic_t* t = rd_kafka_topic_new(rk, "strata.events", nullptr);
      if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
          md->topics[0].partition_cnt > 0)
        partitions = md->topics[0].partition_cnt;
      if (md) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(t);
    }
    for (int64_t i = 0; i < per_object; ++i)
      for (int64_t o = 0; o < objects; ++o) {
        const std::string value = MakeEvent(o, i, legacy).SerializeAsString();
        const std::string key = fmt::format("object:table:bench.t{}", o);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("strata.events"),
                                 RD_KAFKA_V_PARTITION(eventlog::KeyPartition(key, partitions)),
                                 RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
          rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
      }
    rd_kafka_flush(rk, 120000);
    // librdkafka's mock broker keeps a bounded log per partition and drops the
    // oldest records beyond it: a replay from offset 0 would be incomplete.
    for (int p = 0; p < partitions; ++p) {
      int64_t low = 0, high = 0;
      rd_kafka_query_watermark_offsets(rk, "strata.events", p, &low, &high, 10000);
      if (low > 0) {
        std::cerr << fmt::format(
            "the mock broker dropped offsets 0..{} of partition {} (it keeps {} of {}); use "
            "fewer --events per partition or more --partitions\n",
            low - 1, p, high - low, high);
        return 3;
      }
    }
    rd_kafka_destroy(rk);
    eventlog::LogConfig c;
    c.kafka_bootstrap = bootstrap;
    c.partitions = partitions;
    auto l = eventlog::OpenKafkaLog(c);
    if (!l.ok()) return std::cerr << l.status() << "\n", 1;
    log = std::move(*l);
  }
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_write).count();
  if (write_only) {
    std::cout << fmt::format("log written: events={} objects={} partitions={} in {:.1f}s\n", events, objects,
                             partitions, write_s);
    return 0;
  }

  lock::OutcomeBoard board;
  lock::LockProjection projection(&board, {"public"});
  runner_options.db_path = dir + "/lock-bench";
  runner_options.rebuild = true;
  runner_options.max_uncommitted_bytes = uncommitted_mb << 20;
  auto runner = projection::ProjectionRunner::Open(runner_options, log.get(), &projection);
  if (!runner.ok()) return std::cerr << runner.status() << "\n", 1;
  const auto t0 = std::chrono::steady_clock::now();
  (void)(*runner)->Start();
  absl::Status s = (*runner)->CatchUp(absl::Minutes(10));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) return std::cerr << s << "\n", 1;
  const auto stats = (*runner)->stats();
  std::cout << fmt::format(
      "rebuild[{}]: events={} objects={} partitions={} applied={} commits={} seconds={:.2f} "
      "events/s={:.0f} (log written in {:.1f}s)\n",
      backend, events, objects, partitions, stats.events_applied, stats.batches, secs,
      stats.events_applied / secs, write_s);
  bench::Figure("rebuild." + backend + ".replay", stats.events_applied / secs, "events/s");
  (*runner)->Stop();
  return stats.events_applied == static_cast<uint64_t>(events) ? 0 : 2;
}
