// ReadSecretFile: the mode check every secret flag relies on, and systemd credentials.
#include "util/secret_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace roster {
namespace {

using ::roster::testing::IsOkAndHolds;
using ::roster::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class SecretFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents, mode_t mode) {
    const std::string path = dir_.Child(name);
    ::roster::testing::WriteFileOrDie(path, contents);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  void TearDown() override { unsetenv("CREDENTIALS_DIRECTORY"); }

  ::roster::testing::TempDir dir_{"secret-file"};
};

TEST_F(SecretFileTest, ReadsAPrivateFile) {
  const std::string path = Write("token", "s3cret\nsecond line\n", 0600);
  EXPECT_THAT(ReadSecretFile("admin_token_file", path), IsOkAndHolds("s3cret\nsecond line\n"));
  EXPECT_THAT(ReadSecretLine("admin_token_file", path), IsOkAndHolds("s3cret"));
  const std::string read_only = Write("ro", "  padded \n", 0400);
  EXPECT_THAT(ReadSecretLine("admin_token_file", read_only), IsOkAndHolds("padded"));
  // A password keeps its spaces; only the line break goes.
  EXPECT_THAT(ReadSecretPassword("password_file", read_only), IsOkAndHolds("  padded "));
  EXPECT_THAT(ReadSecretPassword("password_file", Write("crlf", " p w\r\nnext", 0600)),
              IsOkAndHolds(" p w"));
  EXPECT_THAT(ReadSecretPassword("password_file", Write("empty", "\r\nnext", 0600)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("first line is empty")));
}

TEST_F(SecretFileTest, RefusesFilesOthersCanReachNamingTheFileAndTheFix) {
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602, 0610, 0601}) {
    SCOPED_TRACE(mode);
    const std::string path = Write("shared", "s3cret\n", mode);
    absl::StatusOr<std::string> read = ReadSecretFile("zk_digest_file", path);
    EXPECT_THAT(read,
                StatusIs(absl::StatusCode::kPermissionDenied,
                         AllOf(HasSubstr("--zk_digest_file=" + path), HasSubstr("group or others"),
                               HasSubstr("chmod 600 " + path))));
    // The secret itself never appears in an error.
    EXPECT_THAT(std::string(read.status().message()), Not(HasSubstr("s3cret")));
  }
}

TEST_F(SecretFileTest, SharedFilesOnlyWhenAllowed) {
  const std::string path = Write("shared", "s3cret\n", 0644);
  SecretFileOptions options;
  options.allow_group_or_other_access = true;
  EXPECT_THAT(ReadSecretLine("f", path, options), IsOkAndHolds("s3cret"));
}

TEST_F(SecretFileTest, MissingEmptyAndOversizedFiles) {
  EXPECT_THAT(ReadSecretFile("f", dir_.Child("absent")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_.Child("absent"))));
  EXPECT_THAT(ReadSecretLine("f", Write("empty", "\nsecond\n", 0600)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("first line is empty")));
  SecretFileOptions small;
  small.max_bytes = 4;
  EXPECT_THAT(ReadSecretFile("f", Write("big", "12345", 0600), small),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("larger than 4 bytes")));
  EXPECT_THAT(ReadSecretFile("f", dir_.path()), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(SecretFileTest, SystemdCredentials) {
  EXPECT_THAT(ReadSecretFile("admin_token_file", "cred:admin-token"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("$CREDENTIALS_DIRECTORY is not set"),
                             HasSubstr("LoadCredential=admin-token:"))));
  Write("admin-token", "from-systemd\n", 0400);
  setenv("CREDENTIALS_DIRECTORY", dir_.path().c_str(), 1);
  EXPECT_THAT(ReadSecretLine("admin_token_file", "cred:admin-token"), IsOkAndHolds("from-systemd"));
  EXPECT_THAT(ResolveSecretPath("f", "cred:admin-token"),
              IsOkAndHolds(dir_.path() + "/admin-token"));
  EXPECT_THAT(ResolveSecretPath("f", "/etc/roster/x"), IsOkAndHolds("/etc/roster/x"));
  EXPECT_THAT(ReadSecretFile("f", "cred:../etc/passwd"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReadSecretFile("f", "cred:"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SecretFileTest, ModeCheckAlone) {
  EXPECT_THAT(CheckSecretFileMode("tls_key_file", Write("key", "k", 0600)),
              ::roster::testing::IsOk());
  EXPECT_THAT(CheckSecretFileMode("tls_key_file", Write("key2", "k", 0640)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("--tls_key_file=")));
}

}  // namespace
}  // namespace roster
