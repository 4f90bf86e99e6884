#include "auth/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace strata::auth {
namespace {

constexpr char kFile[] = R"(
tokens:
  - {token: s3cr3t, user: alice, site: boston, roles: [developer]}
  - {token: t0p, user: dana, roles: [dba, admin], db_role: dana_dba}
  - {token: c0n, user: carol, site: vendor, schemas: ["billing.*"], environments: [dev]}
)";

TEST(TokenStoreTest, AuthenticatesBearerTokens) {
  auto store = TokenStore::Parse(kFile, "hq");
  ASSERT_TRUE(store.ok()) << store.status();
  auto alice = (*store)->Authenticate("Bearer s3cr3t");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->user, "alice");
  EXPECT_EQ(alice->site, "boston");
  EXPECT_TRUE(alice->HasRole("developer"));
  EXPECT_FALSE(alice->HasRole("dba"));
  auto dana = (*store)->Authenticate("Bearer t0p");
  EXPECT_EQ(dana->site, "hq") << "defaults to the server's site";
  EXPECT_EQ(dana->db_role, "dana_dba");
  EXPECT_TRUE(dana->HasAnyRole({"dba", "admin"}));
  auto carol = (*store)->Authenticate("Bearer c0n");
  EXPECT_EQ(carol->roles, std::vector<std::string>{"developer"});
  EXPECT_EQ(carol->schemas, std::vector<std::string>{"billing.*"});
}

TEST(TokenStoreTest, MissingMalformedOrUnknownTokensAreUnauthenticated) {
  auto store = *TokenStore::Parse(kFile, "hq");
  for (const char* bad : {"", "Bearer ", "Basic s3cr3t", "s3cr3t", "Bearer nope", "Bearer S3CR3T"}) {
    auto p = store->Authenticate(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(TokenStoreTest, RejectsBadFilesWithTheEntry) {
  EXPECT_EQ(TokenStore::Parse("nothing: here", "x").status().code(), absl::StatusCode::kInvalidArgument);
  auto s = TokenStore::Parse("tokens: [{token: a, user: u, roles: [wizard]}]", "x").status();
  EXPECT_NE(std::string(s.message()).find("unknown role 'wizard'"), std::string::npos) << s;
  EXPECT_FALSE(TokenStore::Parse("tokens: [{token: a}]", "x").ok());
  EXPECT_FALSE(TokenStore::Parse("tokens: [{token: a, user: u}, {token: a, user: v}]", "x").ok());
  EXPECT_FALSE(TokenStore::Parse("tokens: [ {", "x").ok());
  EXPECT_EQ(TokenStore::LoadFile("/nonexistent/tokens.yaml", "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Sha256HexTest, IsTheLowercaseHexOfTheDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TokenStoreTest, CertificateSubjectsStandForUsers) {
  auto store = TokenStore::Parse(R"(tokens:
  - {cert_subject: "CN=ci,O=Acme", user: ci, site: hq, roles: [release-manager]}
  - {token: t, cert_subject: "CN=dana,O=Acme", user: dana, roles: [dba]}
)",
                                 "local");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 2u);
  auto ci = (*store)->AuthenticateCertificate("CN=ci,O=Acme");
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci->user, "ci");
  EXPECT_TRUE(ci->HasRole("release-manager"));
  EXPECT_EQ((*store)->AuthenticateCertificate("CN=dana,O=Acme")->user, "dana");
  EXPECT_EQ((*store)->Authenticate("Bearer t")->user, "dana");
  auto unknown = (*store)->AuthenticateCertificate("CN=ci,O=Other");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("CN=ci,O=Other"));
  // An entry needs a token or a subject; subjects are unique.
  EXPECT_FALSE(TokenStore::Parse("tokens:\n  - {user: x}\n", "l").ok());
  EXPECT_FALSE(
      TokenStore::Parse("tokens:\n  - {cert_subject: \"CN=a\", user: x}\n  - {cert_subject: \"CN=a\", user: y}\n", "l")
          .ok());
  EXPECT_FALSE(TokenStore::Parse("tokens:\n  - [a, b]\n", "l").ok());
}

TEST(ScopeTest, SchemaAndEnvironmentPatternsAreGlobsAndAbsentMeansAll) {
  Principal carol{.user = "carol", .roles = {"developer"}, .schemas = {"billing.*", "shared.rates"},
                  .environments = {"dev", "qa-*"}};
  EXPECT_TRUE(carol.InSchemaScope("billing.invoices"));
  EXPECT_TRUE(carol.InSchemaScope("shared.rates"));
  EXPECT_FALSE(carol.InSchemaScope("shared.users"));
  EXPECT_FALSE(carol.InSchemaScope("sales.orders"));
  EXPECT_FALSE(carol.InSchemaScope("billing"));  // the schema object itself is not in billing.*
  EXPECT_TRUE(carol.InEnvironmentScope("dev"));
  EXPECT_TRUE(carol.InEnvironmentScope("qa-eu"));
  EXPECT_FALSE(carol.InEnvironmentScope("prod"));
  Principal dana{.user = "dana", .roles = {"dba"}};
  EXPECT_TRUE(dana.InSchemaScope("anything.at_all"));
  EXPECT_TRUE(dana.InEnvironmentScope("prod"));
}

TEST(TokenStoreTest, ReloadSwapsTheTokensAndKeepsThemOnABadFile) {
  const std::string path = ::testing::TempDir() + "/tokens-reload.yaml";
  std::ofstream(path) << "tokens:\n  - {token: old, user: alice}\n";
  auto store = TokenStore::LoadFile(path, "hq");
  ASSERT_TRUE(store.ok());
  std::ofstream(path) << "tokens:\n  - {token: new, user: bob}\n";
  ASSERT_TRUE((*store)->ReloadFile(path, "hq").ok());
  EXPECT_EQ((*store)->Authenticate("Bearer old").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Authenticate("Bearer new")->user, "bob");
  std::ofstream(path) << "tokens: [ {user: nobody} ]\n";  // no token: refused
  EXPECT_FALSE((*store)->ReloadFile(path, "hq").ok());
  EXPECT_EQ((*store)->Authenticate("Bearer new")->user, "bob");
}

TEST(TokenStoreTest, DelegatesAreMarkedAndProcessTokensOutliveReloads) {
  const std::string path = ::testing::TempDir() + "/tokens-delegate.yaml";
  std::ofstream(path) << "tokens:\n  - {token: c, user: console, roles: [viewer], delegate: true}\n"
                         "  - {token: a, user: alice}\n";
  auto store = TokenStore::LoadFile(path, "hq");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Authenticate("Bearer c")->delegate);
  EXPECT_FALSE((*store)->Authenticate("Bearer a")->delegate);
  (*store)->AddProcessToken("p", Principal{.user = "strata-console", .roles = {"viewer"}, .delegate = true});
  EXPECT_EQ((*store)->size(), 2u);  // the file's entries
  std::ofstream(path) << "tokens:\n  - {token: a, user: alice}\n";
  ASSERT_TRUE((*store)->ReloadFile(path, "hq").ok());
  EXPECT_EQ((*store)->Authenticate("Bearer c").status().code(), absl::StatusCode::kUnauthenticated);
  auto process = (*store)->Authenticate("Bearer p");
  ASSERT_TRUE(process.ok());
  EXPECT_EQ(process->user, "strata-console");
  EXPECT_TRUE(process->delegate);
}

}  // namespace
}  // namespace strata::auth
