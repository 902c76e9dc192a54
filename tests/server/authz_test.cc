// Authorizer: scopes, identities from tokens and certificates, the access file and its reload.
// Calls are described by CallCredentials, as CredentialsOf() extracts them from a gRPC call
// (the e2e test tests/e2e/security_test.cc covers real mTLS connections).
#include "server/authz.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster::server {
namespace {

using ::roster::testing::IsOk;
using ::roster::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Well-known SHA-256 test vectors (FIPS 180-2 for "abc").
constexpr char kSha256OfAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kSha256OfTest[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

CallCredentials Token(absl::string_view token, absl::string_view peer = "ipv4:10.0.0.9:5000") {
  CallCredentials call;
  call.peer = std::string(peer);
  call.has_authorization = true;
  call.authorization = absl::StrCat("Bearer ", token);
  return call;
}

CallCredentials Cert(std::vector<std::string> names) {
  CallCredentials call;
  call.peer = "ipv4:10.0.0.9:5000";
  call.cert_names = std::move(names);
  return call;
}

CallCredentials Anonymous(absl::string_view peer) {
  CallCredentials call;
  call.peer = std::string(peer);
  return call;
}

class AuthzTest : public ::testing::Test {
 protected:
  std::string WriteAccess(const std::string& contents, mode_t mode = 0600) {
    const std::string path = dir_.Child("access");
    ::roster::testing::WriteFileOrDie(path + ".new", contents);
    EXPECT_EQ(chmod((path + ".new").c_str(), mode), 0);
    EXPECT_EQ(rename((path + ".new").c_str(), path.c_str()), 0);  // a new inode each time
    return path;
  }

  std::string Standard() {
    return WriteAccess(absl::StrCat("# roster access\n", "cert  worker-1   register\n",
                                    "cert  ops        read,admin   # the console\n",
                                    "token ci-bot     sha256:", kSha256OfAbc, "  read\n",
                                    "token deployer   sha256:", kSha256OfTest, " register,read\n"));
  }

  ::roster::testing::TempDir dir_{"authz"};
};

TEST(AccessFileTest, HashTokenIsSha256) {
  const Sha256 hash = HashToken("abc");
  EXPECT_EQ(absl::BytesToHexString(
                absl::string_view(reinterpret_cast<const char*>(hash.data()), hash.size())),
            kSha256OfAbc);
}

TEST(AccessFileTest, BadLinesAreNamed) {
  const std::string hash = absl::StrCat("sha256:", kSha256OfAbc);
  struct Case {
    std::string contents;
    std::string error;
  } cases[] = {
      {"cert a read\ncert b write\n", "line 2: unknown scope 'write'"},
      {"cert a\n", "line 1: expected 'cert NAME SCOPES'"},
      {"user a read\n", "line 1: expected"},
      {"token t abc read\n", "line 1: a token is given by its hash"},
      {"token t sha256:" + std::string(64, 'z') + " read\n", "not hexadecimal"},
      {"cert a read\ncert a admin\n", "line 2: certificate name 'a' is listed twice"},
      {"token t " + hash + " read\ntoken t " + hash + " admin\n", "token name 't' is listed twice"},
      {"cert a ,\n", "no scope"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseAccessFile("/etc/roster/access", c.contents),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("--access_file=/etc/roster/access"), HasSubstr(c.error))))
        << c.contents;
  }
  EXPECT_THAT(ParseAccessFile("f", "\n# only comments\n   \n").status(), IsOk());
}

TEST_F(AuthzTest, TokensGetTheirScopesOnly) {
  AuthorizerOptions options;
  options.access_file = Standard();
  options.allow_unauthenticated_read = false;
  Authorizer authz(options);
  ASSERT_THAT(authz.Start(), IsOk());

  absl::StatusOr<Caller> reader = authz.Authorize(Token("abc"), kScopeRead, "Roster/GetNode");
  ASSERT_THAT(reader.status(), IsOk());
  EXPECT_EQ(reader->identity, "token:ci-bot");
  // A read-only token may not write: PERMISSION_DENIED naming the scope and the identity.
  EXPECT_THAT(authz.Authorize(Token("abc"), kScopeRegister, "Registration/RegisterNode"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("Registration/RegisterNode needs the register scope"),
                             HasSubstr("'token:ci-bot' has read"))));
  EXPECT_THAT(authz.Authorize(Token("abc"), kScopeAdmin, "RosterAdmin/DrainNode").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(authz.Authorize(Token("test"), kScopeRegister, "m").status(), IsOk());
  // Case-insensitive scheme, surrounding blanks ignored.
  CallCredentials lower = Token("x");
  lower.authorization = "bearer  test ";
  EXPECT_THAT(authz.Authorize(lower, kScopeRegister, "m").status(), IsOk());
}

TEST_F(AuthzTest, WrongAndMalformedTokensAreRefusedWithoutQuotingThem) {
  AuthorizerOptions options;
  options.access_file = Standard();
  Authorizer authz(options);
  ASSERT_THAT(authz.Start(), IsOk());
  for (const char* wrong : {"abd", "ab", "abcc", "ABC"}) {
    absl::StatusOr<Caller> caller = authz.Authorize(Token(wrong), kScopeRegister, "m");
    EXPECT_THAT(caller, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("wrong")));
    EXPECT_THAT(std::string(caller.status().message()), Not(HasSubstr(wrong)));
  }
  CallCredentials basic = Token("x");
  basic.authorization = "Basic YWJj";
  EXPECT_THAT(authz.Authorize(basic, kScopeRegister, "m"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("Bearer")));
  CallCredentials empty = Token("x");
  empty.authorization = "Bearer ";
  EXPECT_THAT(authz.Authorize(empty, kScopeRegister, "m"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(AuthzTest, CertificatesByCommonNameOrSan) {
  AuthorizerOptions options;
  options.access_file = Standard();
  Authorizer authz(options);
  ASSERT_THAT(authz.Start(), IsOk());
  absl::StatusOr<Caller> worker = authz.Authorize(Cert({"worker-1"}), kScopeRegister, "m");
  ASSERT_THAT(worker.status(), IsOk());
  EXPECT_EQ(worker->identity, "cert:worker-1");
  // The CN is not listed, a SAN is.
  absl::StatusOr<Caller> ops = authz.Authorize(Cert({"Ops Console", "ops"}), kScopeAdmin, "m");
  ASSERT_THAT(ops.status(), IsOk());
  EXPECT_EQ(ops->identity, "cert:ops");
  EXPECT_THAT(authz.Authorize(Cert({"worker-1"}), kScopeAdmin, "RosterAdmin/DrainNode"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("'cert:worker-1'")));
  // A certificate the CA signed but the access file does not list: known, with no scope but
  // the open reads.
  EXPECT_THAT(authz.Authorize(Cert({"stranger"}), kScopeRegister, "m"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("'cert:stranger' has read")));
}

TEST_F(AuthzTest, CallersWithoutCredentials) {
  AuthorizerOptions open_reads;
  Authorizer authz(open_reads);
  ASSERT_THAT(authz.Start(), IsOk());
  EXPECT_THAT(authz.Authorize(Anonymous("ipv4:10.0.0.9:1"), kScopeRead, "m").status(), IsOk());
  // Writes are never open by default, not even from loopback.
  for (const char* peer : {"ipv4:10.0.0.9:1", "ipv4:127.0.0.1:1", "unix:/run/roster.sock"}) {
    EXPECT_THAT(authz.Authorize(Anonymous(peer), kScopeRegister, "Registration/RegisterNode"),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         AllOf(HasSubstr("needs the register scope"), HasSubstr("--access_file"))))
        << peer;
    EXPECT_THAT(authz.Authorize(Anonymous(peer), kScopeAdmin, "m"),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("--admin_token_file")));
  }
  AuthorizerOptions closed;
  closed.allow_unauthenticated_read = false;
  Authorizer closed_authz(closed);
  EXPECT_THAT(closed_authz.Authorize(Anonymous("ipv4:127.0.0.1:1"), kScopeRead, "Roster/GetNode"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("needs the read scope")));
}

TEST_F(AuthzTest, LoopbackWritesOnlyWhenAskedFor) {
  AuthorizerOptions options;
  options.allow_loopback_writes = true;
  Authorizer authz(options);
  for (const char* peer : {"ipv4:127.0.0.1:1", "ipv6:[::1]:2", "unix:/run/roster.sock"}) {
    EXPECT_THAT(authz.Authorize(Anonymous(peer), kScopeRegister, "m").status(), IsOk()) << peer;
    EXPECT_THAT(authz.Authorize(Anonymous(peer), kScopeAdmin, "m").status(), IsOk()) << peer;
  }
  EXPECT_THAT(authz.Authorize(Anonymous("ipv4:10.0.0.9:1"), kScopeRegister, "m"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // With an admin token, as before scopes existed, loopback callers may not drain without it.
  options.admin_token = "s3cret";
  Authorizer with_token(options);
  EXPECT_THAT(with_token.Authorize(Anonymous("ipv4:127.0.0.1:1"), kScopeAdmin, "m"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(with_token.Authorize(Anonymous("ipv4:127.0.0.1:1"), kScopeRegister, "m").status(),
              IsOk());
}

TEST_F(AuthzTest, TheAdminTokenGrantsAdminOnly) {
  AuthorizerOptions options;
  options.admin_token = "s3cret";
  options.allow_unauthenticated_read = false;
  Authorizer authz(options);
  absl::StatusOr<Caller> admin = authz.Authorize(Token("s3cret"), kScopeAdmin, "m");
  ASSERT_THAT(admin.status(), IsOk());
  EXPECT_EQ(admin->identity, "admin-token");
  EXPECT_THAT(authz.Authorize(Token("s3cret"), kScopeRegister, "m"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(authz.Authorize(Token("s3cre"), kScopeAdmin, "m"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("wrong")));
}

TEST_F(AuthzTest, TheFileIsReloadedWhenItChangesAndABadOneIsRefused) {
  AuthorizerOptions options;
  options.access_file = Standard();
  options.allow_unauthenticated_read = false;
  Authorizer authz(options);
  ASSERT_THAT(authz.Start(), IsOk());
  EXPECT_EQ(authz.loads(), 1u);
  EXPECT_THAT(authz.ReloadIfChanged(), IsOk());
  EXPECT_EQ(authz.loads(), 1u) << "unchanged: not re-read";

  // ci-bot revoked, deployer now admin.
  WriteAccess(absl::StrCat("token deployer sha256:", kSha256OfTest, " admin\n"));
  ASSERT_THAT(authz.ReloadIfChanged(), IsOk());
  EXPECT_EQ(authz.loads(), 2u);
  EXPECT_THAT(authz.Authorize(Token("abc"), kScopeRead, "m"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(authz.Authorize(Token("test"), kScopeAdmin, "m").status(), IsOk());

  // A broken file, or one others can read, is refused; the last good table stays in force.
  WriteAccess("token deployer nonsense admin\n");
  EXPECT_THAT(authz.ReloadIfChanged(), StatusIs(absl::StatusCode::kInvalidArgument));
  WriteAccess(absl::StrCat("token deployer sha256:", kSha256OfTest, " read\n"), 0644);
  EXPECT_THAT(authz.ReloadIfChanged(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("chmod 600")));
  EXPECT_THAT(authz.Authorize(Token("test"), kScopeAdmin, "m").status(), IsOk());
}

TEST_F(AuthzTest, AWorldReadableOrBrokenFileFailsTheStart) {
  AuthorizerOptions options;
  options.access_file = WriteAccess("cert a read\n", 0644);
  Authorizer shared(options);
  EXPECT_THAT(shared.Start(), StatusIs(absl::StatusCode::kPermissionDenied,
                                       AllOf(HasSubstr("--access_file="), HasSubstr("chmod 600"))));
  options.access_file = WriteAccess("cert a\n");
  Authorizer broken(options);
  EXPECT_THAT(broken.Start(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
}

}  // namespace
}  // namespace roster::server
