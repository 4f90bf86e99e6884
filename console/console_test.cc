// Unit tests of the console's parts that need no server: sessions, CSRF
// comparison, escaping and formatting.
#include <gtest/gtest.h>

#include "console/html.h"
#include "console/session.h"

namespace strata::console {
namespace {

TEST(SessionStore, ASessionLastsItsTimeAndNoLonger) {
  SessionStore store(absl::Minutes(10));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const std::string id = store.Create({"alice-token", ""}, Identity{.user = "alice"}, t0);
  EXPECT_EQ(id.size(), 64u);
  auto found = store.Find(id, t0 + absl::Minutes(9));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->credential.token, "alice-token");
  EXPECT_EQ(found->who.user, "alice");
  EXPECT_EQ(found->csrf.size(), 64u);
  EXPECT_NE(found->csrf, id);
  EXPECT_FALSE(store.Find(id, t0 + absl::Minutes(10)));
  EXPECT_FALSE(store.Find(id, t0));  // an expired session is gone for good
}

TEST(SessionStore, UnknownIdsAndSignedOutSessionsAreNotFound) {
  SessionStore store(absl::Hours(1));
  const std::string id = store.Create({"t", ""}, {});
  EXPECT_FALSE(store.Find(""));
  EXPECT_FALSE(store.Find(std::string(64, '0')));
  EXPECT_FALSE(store.Find(id.substr(1)));
  store.Remove(id);
  EXPECT_FALSE(store.Find(id));
}

TEST(SessionStore, ExpiredSessionsAreDroppedWhenNewOnesCome) {
  SessionStore store(absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int i = 0; i < 10; ++i) store.Create({"t", ""}, {}, t0);
  store.Create({"t", ""}, {}, t0 + absl::Seconds(5));
  EXPECT_EQ(store.size(), 1u);
}

TEST(Secrets, RandomAndComparedWhole) {
  EXPECT_NE(RandomHex32(), RandomHex32());
  const std::string a = RandomHex32();
  EXPECT_TRUE(SecretsEqual(a, a));
  EXPECT_FALSE(SecretsEqual(a, a.substr(0, 63)));
  std::string b = a;
  b[63] = b[63] == '0' ? '1' : '0';
  EXPECT_FALSE(SecretsEqual(a, b));
  EXPECT_FALSE(SecretsEqual("", a));
}

TEST(Html, EscapesEverythingThatCouldOpenMarkup) {
  EXPECT_EQ(Esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  EXPECT_EQ(Url("function:sales.total(integer, text)"), "function:sales.total%28integer%2C%20text%29");
  EXPECT_EQ(Url("a/b?c=d&e"), "a%2Fb%3Fc%3Dd%26e");
  EXPECT_EQ(ObjectLink("table:x.<y>"), "<a href=\"/objects/table:x.%3Cy%3E\">table:x.&lt;y&gt;</a>");
}

TEST(Html, TimesAndAges) {
  EXPECT_EQ(TimeText("2026-12-05T08:30:01.123456789Z"), "2026-12-05 08:30:01 UTC");
  EXPECT_EQ(TimeText("not a time"), "-");
  EXPECT_EQ(AgeText(absl::Seconds(45)), "45s");
  EXPECT_EQ(AgeText(absl::Minutes(12)), "12m");
  EXPECT_EQ(AgeText(absl::Minutes(185)), "3h05m");
  EXPECT_EQ(AgeText(absl::Hours(52)), "2d4h");
}

TEST(Html, TheDocumentCarriesTheUserTheCsrfTokenAndNoScriptInline) {
  Identity who{.user = "dana<", .site = "hq", .roles = {"dba"}};
  const std::string doc = Document(Frame{"T", "locks", "c5rf", &who, "refresh"}, "<p>body</p>");
  EXPECT_NE(doc.find("dana&lt;"), std::string::npos);
  EXPECT_NE(doc.find("value=\"c5rf\""), std::string::npos);
  EXPECT_NE(doc.find("data-live=\"refresh\""), std::string::npos);
  EXPECT_NE(doc.find("aria-current=\"page\">Who holds what"), std::string::npos);
  EXPECT_EQ(doc.find("<script>"), std::string::npos);  // the CSP allows only /assets/console.js
}

}  // namespace
}  // namespace strata::console
