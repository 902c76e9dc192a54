// TempDir: a fresh directory for one fixture (a server's data and logs), removed with
// everything in it when the TempDir is destroyed.
//
// Created under $TEST_TMPDIR if set, else $TMPDIR, else /tmp. Set ROSTER_KEEP_TEST_DIRS=1 to
// keep the directories for a post-mortem (their paths are logged).
//
// Thread-safety: immutable after construction.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace roster::testing {

class TempDir {
 public:
  // `prefix` starts the directory's name, e.g. "zookeeper" -> /tmp/zookeeper.Ab12Cd.
  // CHECK-fails if the directory cannot be created.
  explicit TempDir(absl::string_view prefix);
  ~TempDir();

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Child(absl::string_view name) const;

 private:
  std::string path_;
};

// Writes `contents` to `path` (replacing it). CHECK-fails on error: a test fixture that
// cannot write its own files cannot go on.
void WriteFileOrDie(const std::string& path, absl::string_view contents);
// The same, mode 0600: a secret file rosterd accepts (util/secret_file.h refuses others).
void WriteSecretFileOrDie(const std::string& path, absl::string_view contents);

}  // namespace roster::testing
