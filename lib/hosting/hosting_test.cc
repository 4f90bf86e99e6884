#include "hosting/hosting.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace strata::hosting {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(KafkaConfigTest, FilePropertiesComeFirstAndFlagsOverrideThem) {
  const std::string path = ::testing::TempDir() + "/kafka.properties";
  std::ofstream(path) << "# credentials\nsecurity.protocol = SASL_SSL\nsasl.password=s3cr3t=x\n\n";
  ServerFlags flags;
  flags.kafka = "127.0.0.1:9092";
  flags.kafka_config_file = path;
  flags.kafka_properties = {"security.protocol=SSL"};
  auto config = LogConfigFromFlags(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  using KV = std::pair<std::string, std::string>;
  EXPECT_THAT(config->kafka_properties,
              ::testing::ElementsAre(KV{"security.protocol", "SASL_SSL"}, KV{"sasl.password", "s3cr3t=x"},
                                     KV{"security.protocol", "SSL"}));
  std::remove(path.c_str());
}

TEST(KafkaConfigTest, ErrorsNameThePlaceNotTheSecret) {
  const std::string path = ::testing::TempDir() + "/bad.properties";
  std::ofstream(path) << "sasl.username=u\nhunter2\n";
  ServerFlags flags;
  flags.kafka = "127.0.0.1:9092";
  flags.kafka_config_file = path;
  auto config = LogConfigFromFlags(flags);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("bad.properties:2: not k=v"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("hunter2")));
  flags.kafka_config_file = "/nonexistent/kafka.properties";
  EXPECT_FALSE(LogConfigFromFlags(flags).ok());
  std::remove(path.c_str());
}

TEST(ScopeTest, ObjectsOutsideTheSchemaScopeAreHidden) {
  auth::Principal carol;
  carol.user = "carol";
  carol.schemas = {"billing.*"};
  EXPECT_TRUE(ObjectInScope(carol, "table:billing.invoices"));
  EXPECT_TRUE(ObjectInScope(carol, "object:table:billing.invoices"));
  EXPECT_FALSE(ObjectInScope(carol, "table:sales.orders"));
  EXPECT_FALSE(ObjectInScope(carol, "object:view:sales.open_orders"));
  EXPECT_TRUE(ObjectInScope(carol, "env:dev")) << "not an object";
  auth::Principal dana;
  dana.user = "dana";
  EXPECT_TRUE(ObjectInScope(dana, "table:sales.orders")) << "no scope: everything";
}

}  // namespace
}  // namespace strata::hosting
