#include "metrics/metrics.h"

#include <gtest/gtest.h>

namespace strata::metrics {
namespace {

TEST(Metrics, CountersRenderWithLabelsAndMove) {
  Registry r;
  Counter& ok = r.GetCounter("strata_x_total", "x things", {{"code", "OK"}});
  ok.Increment();
  ok.Increment(2);
  r.GetCounter("strata_x_total", "x things", {{"code", "ABORTED"}}).Increment();
  EXPECT_EQ(&ok, &r.GetCounter("strata_x_total", "x things", {{"code", "OK"}}));
  const std::string text = r.Render();
  EXPECT_NE(text.find("# HELP strata_x_total x things\n# TYPE strata_x_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_x_total{code=\"OK\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_x_total{code=\"ABORTED\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  Histogram& h = r.GetHistogram("strata_d_seconds", "durations", {{"m", "A"}}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(0.1);  // on the bound: le="0.1"
  h.Observe(7);
  const std::string text = r.Render();
  EXPECT_NE(text.find("strata_d_seconds_bucket{m=\"A\",le=\"0.1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_d_seconds_bucket{m=\"A\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_d_seconds_bucket{m=\"A\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_d_seconds_count{m=\"A\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("strata_d_seconds_sum{m=\"A\"} 7.65\n"), std::string::npos) << text;
}

TEST(Metrics, CollectorsReportAtScrapeTimeAndCanBeRemoved) {
  Registry r;
  int lag = 5;
  const int id = r.AddCollector([&](GaugeSink& sink) {
    sink.Gauge("strata_lag", "lag", {{"partition", "0"}}, lag);
    sink.Gauge("strata_lag", "lag", {{"partition", "1"}}, 0);
  });
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE strata_lag gauge\nstrata_lag{partition=\"0\"} 5\nstrata_lag{partition=\"1\"} 0\n"),
            std::string::npos)
      << text;
  lag = 0;
  EXPECT_NE(r.Render().find("strata_lag{partition=\"0\"} 0\n"), std::string::npos);
  r.RemoveCollector(id);
  EXPECT_EQ(r.Render().find("strata_lag"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace strata::metrics
