#include "pg/pg.h"

#include <gtest/gtest.h>

namespace strata::pg {
namespace {

TEST(PgTest, FindsPasswordsInEveryFormLibpqAccepts) {
  EXPECT_TRUE(HasPassword("postgres://u:pw@h/db"));
  EXPECT_TRUE(HasPassword("postgres://u@h/db?password=pw"));
  EXPECT_TRUE(HasPassword("host=h password = pw"));
  EXPECT_FALSE(HasPassword("postgres://u@h:5432/db"));
  EXPECT_FALSE(HasPassword("host=h user=u dbname=d"));
}

TEST(PgTest, RedactsPasswordsInUrlsAndKeywordStrings) {
  EXPECT_EQ(RedactUrl("postgres://alice:s3cret@db:5432/x"), "postgres://alice:***@db:5432/x");
  EXPECT_EQ(RedactUrl("host=db password=s3cret dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(RedactUrl("postgres://db/x"), "postgres://db/x");
  EXPECT_EQ(RedactUrl("host=db password='it\\'s secret' dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(RedactUrl("postgres://u@db/x?password=s3cret"), "postgres://u@db/x?password=***");
}

TEST(PgTest, WithDatabaseOverridesTheDatabaseOfUrlsAndKeywordStrings) {
  EXPECT_EQ(WithDatabase("postgres://u@h/postgres", "s1"), "postgres://u@h/postgres?dbname=s1");
  EXPECT_EQ(WithDatabase("postgres://u@h/p?sslmode=disable", "s1"), "postgres://u@h/p?sslmode=disable&dbname=s1");
  EXPECT_EQ(WithDatabase("host=h", "s1"), "host=h dbname='s1'");
  EXPECT_EQ(WithDatabase("", "s1"), "dbname='s1'");
}

TEST(PgTest, QuotesLiterals) { EXPECT_EQ(QuoteLiteral("it's"), "'it''s'"); }

TEST(PgTest, UnreachableServerIsUnavailableAndNamesTheServer) {
  auto s = Session::Connect("postgres://nobody:pw@127.0.0.1:1/x?connect_timeout=2");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("127.0.0.1:1"), std::string::npos) << s.status();
  EXPECT_EQ(s.status().message().find("pw@"), std::string::npos) << "password leaked";
}

}  // namespace
}  // namespace strata::pg
