#include "deploy/secrets.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace strata::deploy {
namespace {

TEST(SecretsTest, PasswordsInUrlsAreDetected) {
  EXPECT_TRUE(UrlHasPassword("postgres://u:pw@h:5432/db"));
  EXPECT_FALSE(UrlHasPassword("postgres://u@h:5432/db"));
  EXPECT_FALSE(UrlHasPassword("postgres://h:5432/db"));
  EXPECT_TRUE(UrlHasPassword("host=h user=u password=x dbname=d"));
  EXPECT_FALSE(UrlHasPassword("host=h user=u dbname=d"));
  EXPECT_TRUE(UrlHasPassword("postgres://u@h/db?password=x"));
  EXPECT_TRUE(UrlHasPassword("host=h password = x"));
}

TEST(SecretsTest, ThePasswordComesFromTheFileThenTheEnvironment) {
  auto s = Secrets::Parse("environments:\n  qa: {password: 'p@ss w/rd'}\nshadow_url: postgres://a:b@h/postgres\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->ConnectionUrl("qa", "postgres://strata@127.0.0.1:5432/qa"),
            "postgres://strata:p%40ss%20w%2Frd@127.0.0.1:5432/qa");
  EXPECT_EQ((*s)->ConnectionUrl("qa", "host=h user=u"), "host=h user=u password='p@ss w/rd'");
  EXPECT_EQ((*s)->shadow_url(), "postgres://a:b@h/postgres");
  setenv("STRATA_ENV_UAT_EU_PASSWORD", "fromenv", 1);
  EXPECT_EQ((*s)->ConnectionUrl("uat-eu", "postgres://u@h/db"), "postgres://u:fromenv@h/db");
  unsetenv("STRATA_ENV_UAT_EU_PASSWORD");
  EXPECT_EQ((*s)->ConnectionUrl("prod", "postgres://u@h/db"), "postgres://u@h/db");
}

TEST(SecretsTest, BadFilesAreRefusedWithTheReason) {
  EXPECT_EQ(Secrets::Parse("environments:\n  qa: nopassword\n").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Secrets::Load("/nonexistent/secrets.yaml").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata::deploy
