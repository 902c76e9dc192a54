#include "tests/testing/temp_dir.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace roster::testing {
namespace {

std::string BaseDir() {
  for (const char* name : {"TEST_TMPDIR", "TMPDIR"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return value;
  }
  return "/tmp";
}

}  // namespace

TempDir::TempDir(absl::string_view prefix) {
  std::string pattern = absl::StrCat(BaseDir(), "/", prefix, ".XXXXXX");
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  CHECK(mkdtemp(buffer.data()) != nullptr)
      << "cannot create a directory like '" << pattern << "': " << std::strerror(errno);
  path_ = buffer.data();
}

TempDir::~TempDir() {
  const char* keep = std::getenv("ROSTER_KEEP_TEST_DIRS");
  if (keep != nullptr && std::string(keep) == "1") {
    LOG(INFO) << "keeping test directory " << path_;
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(path_, error);
  if (error) LOG(WARNING) << "cannot remove " << path_ << ": " << error.message();
}

std::string TempDir::Child(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

void WriteFileOrDie(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  CHECK(out) << "cannot write " << path;
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  CHECK(out) << "cannot write " << path;
}

void WriteSecretFileOrDie(const std::string& path, absl::string_view contents) {
  WriteFileOrDie(path, contents);
  CHECK_EQ(chmod(path.c_str(), 0600), 0) << "cannot chmod " << path;
}

}  // namespace roster::testing
