#include "history/blame.h"

#include <gtest/gtest.h>

namespace strata::history {
namespace {

std::string Render(const std::vector<BlamedLine>& lines) {
  std::string out;
  for (const auto& l : lines) out += std::to_string(l.source) + " " + l.text + "\n";
  return out;
}

TEST(Blame, EachLineGoesToTheVersionThatWroteItAsItIs) {
  EXPECT_EQ(Render(Blame({"CREATE TABLE s.t (\n  id int\n);\n",
                          "CREATE TABLE s.t (\n  id bigint,\n  note text\n);\n",
                          "CREATE TABLE s.t (\n  id bigint,\n  note text,\n  status text\n);\n"})),
            "0 CREATE TABLE s.t (\n"
            "1   id bigint,\n"
            "2   note text,\n"
            "2   status text\n"
            "0 );\n");
}

TEST(Blame, ARenameWritesOnlyTheLinesThatNameTheObject) {
  EXPECT_EQ(Render(Blame({"CREATE TABLE s.orders (\n  id int\n);\n", "CREATE TABLE s.order_book (\n  id int\n);\n"})),
            "1 CREATE TABLE s.order_book (\n"
            "0   id int\n"
            "0 );\n");
}

TEST(Blame, ADroppedVersionIsSkippedSoARevertKeepsTheAuthors) {
  EXPECT_EQ(Render(Blame({"CREATE VIEW v AS\nSELECT 1;\n", "", "CREATE VIEW v AS\nSELECT 1;\n"})),
            "0 CREATE VIEW v AS\n"
            "0 SELECT 1;\n");
  EXPECT_EQ(Render(Blame({})), "");
  EXPECT_EQ(Render(Blame({"a\nb"})), "0 a\n0 b\n") << "no newline at the end";
}

}  // namespace
}  // namespace strata::history
