#include "server/auth.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = R"(# Kiln tokens
client-0123456789abcdef client name=ci
admin-0123456789abcdef   admin   name=ops   # trailing text is not allowed

)";

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error))
      << error;
  return t;
}

TEST(TokenSetTest, ParsesRolesNamesAndExpiry) {
  auto set = TokenSet::Parse(
      "# comment\n"
      "\n"
      "client-0123456789abcdef client name=ci\n"
      "  admin-0123456789abcdef\tadmin\n"
      "temp-0123456789abcdef client name=tmp expires=2030-01-01T00:00:00Z\n",
      "tokens");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 3u);
  absl::Time now = At("2029-06-01T00:00:00Z");
  auto ci = set->Authenticate("client-0123456789abcdef", now);
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci->name, "ci");
  EXPECT_EQ(ci->role, Role::kClient);
  auto admin = set->Authenticate("admin-0123456789abcdef", now);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->name, "line 4");
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_TRUE(set->Authenticate("temp-0123456789abcdef", now).ok());

  auto expired =
      set->Authenticate("temp-0123456789abcdef", At("2030-01-01T00:00:00Z"));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(expired.status().message(),
            "bearer token 'tmp' expired at 2030-01-01T00:00:00Z");
  auto unknown = set->Authenticate("client-0123456789abcdeX", now);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.status().message(), "unknown bearer token");
  // A prefix or an extension of a token is another token.
  EXPECT_FALSE(set->Authenticate("client-0123456789abcde", now).ok());
  EXPECT_FALSE(set->Authenticate("client-0123456789abcdefg", now).ok());
  EXPECT_FALSE(set->Authenticate("", now).ok());
}

TEST(TokenSetTest, ErrorsNameTheLineAndNeverTheToken) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {kFile, "f:3: unknown field '#'"},
           {"secret-0123456789abcdef\n", "f:1: expected '<token> <role>"},
           {"secret-0123456789abcdef owner\n", "f:1: unknown role 'owner'"},
           {"short client\n", "f:1: token is shorter than 16 characters"},
           {"secret-0123456789abcdef client name=\n", "f:1: name= is empty"},
           {"secret-0123456789abcdef client expires=2030-13-01T00:00:00Z\n",
            "f:1: expires= is not an RFC 3339 time"},
           {"secret-0123456789abcdef client colour=blue\n",
            "f:1: unknown field 'colour'"},
           {"secret-0123456789abcdef client name=a\n"
            "secret-0123456789abcdef admin name=b\n",
            "f:2: the same token as 'a'"},
           {"secret-0123456789abcd\xc3\xa9 client\n",
            "f:1: token has a character that is not printable ASCII"},
       }) {
    auto set = TokenSet::Parse(c.text, "f");
    ASSERT_FALSE(set.ok()) << c.text;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(set.status().message(), HasSubstr(c.expected)) << c.text;
    EXPECT_THAT(set.status().message(), Not(HasSubstr("0123456789abcd")));
  }
}

TEST(AccessTest, EvictAndImportNeedAdminHealthIsOpen) {
  EXPECT_EQ(RequiredAccess("/kiln.v1.CacheAdmin/Evict"), Access::kAdmin);
  EXPECT_EQ(RequiredAccess("/kiln.v1.CacheAdmin/Import"), Access::kAdmin);
  EXPECT_EQ(RequiredAccess("/kiln.v1.CacheAdmin/Export"), Access::kClient);
  EXPECT_EQ(RequiredAccess("/kiln.v1.CacheAdmin/List"), Access::kClient);
  EXPECT_EQ(RequiredAccess("/kiln.v1.Compiler/Compile"), Access::kClient);
  EXPECT_EQ(RequiredAccess("/grpc.health.v1.Health/Check"), Access::kAnyone);
  EXPECT_EQ(RequiredAccess("/grpc.health.v1.Health/Watch"), Access::kAnyone);
  EXPECT_EQ(RequiredAccess("/grpc.reflection.v1alpha.ServerReflection/"
                           "ServerReflectionInfo"),
            Access::kClient);
  EXPECT_EQ(RequiredAccess("/no.such.Service/Method"), Access::kClient);
  EXPECT_EQ(RequiredAccess(""), Access::kClient);
}

TEST(AuthorizerTest, ChecksSchemeTokenAndRole) {
  auto set = TokenSet::Parse(
      "client-0123456789abcdef client name=ci\n"
      "admin-0123456789abcdef admin name=ops\n",
      "f");
  ASSERT_TRUE(set.ok());
  Authorizer authorizer(std::make_shared<const TokenSet>(*set), nullptr);
  ASSERT_TRUE(authorizer.enabled());
  absl::Time now = absl::Now();
  const char* evict = "/kiln.v1.CacheAdmin/Evict";

  auto missing = authorizer.Authorize(evict, std::nullopt, now);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("kiln.v1.CacheAdmin/Evict needs a bearer token"));
  auto basic = authorizer.Authorize(
      evict, absl::string_view("Basic client-0123456789abcdef"), now);
  EXPECT_EQ(basic.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(basic.status().message(), Not(HasSubstr("0123456789")));
  auto client = authorizer.Authorize(
      evict, absl::string_view("Bearer client-0123456789abcdef"), now);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client.status().message(),
            "kiln.v1.CacheAdmin/Evict needs an admin token; 'ci' has the "
            "client role");
  // The scheme is case-insensitive.
  auto admin = authorizer.Authorize(
      evict, absl::string_view("bearer admin-0123456789abcdef"), now);
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin->has_value());
  EXPECT_EQ((*admin)->name, "ops");
  auto list = authorizer.Authorize(
      "/kiln.v1.CacheAdmin/List",
      absl::string_view("Bearer client-0123456789abcdef"), now);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)->role, Role::kClient);
  // Health needs nothing, whatever is sent.
  auto health = authorizer.Authorize("/grpc.health.v1.Health/Check",
                                     absl::string_view("Bearer junk"), now);
  ASSERT_TRUE(health.ok());
  EXPECT_FALSE(health->has_value());

  // Replacing the tokens revokes the old ones.
  auto next = TokenSet::Parse("other-0123456789abcdef admin\n", "f");
  ASSERT_TRUE(next.ok());
  authorizer.ReplaceTokens(std::make_shared<const TokenSet>(*next));
  EXPECT_FALSE(
      authorizer
          .Authorize("/kiln.v1.CacheAdmin/List",
                     absl::string_view("Bearer client-0123456789abcdef"), now)
          .ok());
}

TEST(AuthorizerTest, WithoutTokensEveryCallPasses) {
  Authorizer authorizer(nullptr, nullptr);
  EXPECT_FALSE(authorizer.enabled());
  auto r = authorizer.Authorize("/kiln.v1.CacheAdmin/Evict", std::nullopt,
                                absl::Now());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

}  // namespace
}  // namespace kiln::server
