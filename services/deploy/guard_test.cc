#include "deploy/guard.h"

#include <gtest/gtest.h>

namespace strata::deploy {
namespace {

GuardCheckout Co(const std::string& object, const std::string& holder, int64_t since = 100) {
  return {object, holder + "_role", holder, "boston", since};
}

TEST(GuardDeltaTest, NoDifferenceNoRows) {
  GuardState s{{"table:s.a", "table:s.b"}, {Co("table:s.a", "alice")}};
  EXPECT_TRUE(DeltaBetween(s, s).ids.empty());
}

TEST(GuardDeltaTest, ListsEveryObjectWhoseRowsDifferWithTheExpectedRows) {
  GuardState actual{{"table:s.a", "table:s.b", "table:s.gone"},
                    {Co("table:s.a", "alice"), Co("table:s.b", "bob"), Co("table:s.gone", "bob")}};
  GuardState expected{{"table:s.a", "table:s.b", "table:s.new"},
                      {Co("table:s.a", "alice"), Co("table:s.b", "bob", 200), Co("table:s.new", "carol")}};
  GuardDelta d = DeltaBetween(actual, expected);
  EXPECT_EQ(d.ids, (std::vector<std::string>{"table:s.b", "table:s.gone", "table:s.new"}));
  EXPECT_EQ(d.managed, (std::vector<std::string>{"table:s.b", "table:s.new"}));
  ASSERT_EQ(d.checkouts.size(), 2u);
  EXPECT_EQ(d.checkouts[0], Co("table:s.b", "bob", 200));
  EXPECT_EQ(d.checkouts[1], Co("table:s.new", "carol"));
}

TEST(GuardDeltaTest, AnEmptyGuardGetsEverything) {
  GuardState expected{{"table:s.a", "table:s.b"}, {Co("table:s.b", "bob")}};
  GuardDelta d = DeltaBetween(GuardState{}, expected);
  EXPECT_EQ(d.ids, expected.managed);
  EXPECT_EQ(d.managed, expected.managed);
  EXPECT_EQ(d.checkouts, expected.checkouts);
  // And one emptied of its check-outs only.
  GuardDelta released = DeltaBetween(expected, GuardState{expected.managed, {}});
  EXPECT_EQ(released.ids, (std::vector<std::string>{"table:s.b"}));
  EXPECT_EQ(released.managed, (std::vector<std::string>{"table:s.b"}));
  EXPECT_TRUE(released.checkouts.empty());
}

}  // namespace
}  // namespace strata::deploy
