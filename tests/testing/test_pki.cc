#include "tests/testing/test_pki.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace roster::testing {
namespace {

absl::Status RunOpenssl(const std::string& dir, std::vector<std::string> args) {
  Subprocess::Options options;
  options.argv = {"openssl"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.log_path = dir + "/openssl.log";
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(std::move(options));
  if (!child.ok()) return child.status();
  absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(60));
  if (!status.ok()) return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(
        absl::StrCat("openssl ", args.front(), " failed:\n", (*child)->LogTail()));
  }
  return absl::OkStatus();
}

// A new P-256 key, mode 0600, and a certificate request for it.
absl::Status NewKey(const std::string& dir, const std::string& key, const std::string& csr,
                    absl::string_view common_name) {
  absl::Status status = RunOpenssl(
      dir, {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", absl::StrCat("/CN=", common_name)});
  if (status.ok() && chmod(key.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("cannot chmod ", key));
  }
  return status;
}

}  // namespace

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir, absl::string_view ca_name) {
  std::filesystem::create_directories(dir);
  TestPki pki;
  pki.dir_ = dir;
  pki.ca_.cert_file = absl::StrCat(dir, "/", ca_name, ".crt");
  pki.ca_.key_file = absl::StrCat(dir, "/", ca_name, ".key");
  const std::string csr = absl::StrCat(dir, "/", ca_name, ".csr");
  if (absl::Status status = NewKey(dir, pki.ca_.key_file, csr, ca_name); !status.ok()) {
    return status;
  }
  const std::string extensions = absl::StrCat(dir, "/", ca_name, ".ext");
  WriteFileOrDie(extensions,
                 "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                 "subjectKeyIdentifier=hash\n");
  if (absl::Status status =
          RunOpenssl(dir, {"x509", "-req", "-in", csr, "-signkey", pki.ca_.key_file, "-out",
                           pki.ca_.cert_file, "-days", "2", "-extfile", extensions});
      !status.ok()) {
    return status;
  }
  return pki;
}

absl::StatusOr<TestPki::Pair> TestPki::Issue(absl::string_view file_stem,
                                             absl::string_view common_name, bool server) const {
  Pair pair;
  pair.cert_file = absl::StrCat(dir_, "/", file_stem, ".crt");
  pair.key_file = absl::StrCat(dir_, "/", file_stem, ".key");
  const std::string csr = absl::StrCat(dir_, "/", file_stem, ".csr");
  if (absl::Status status = NewKey(dir_, pair.key_file, csr, common_name); !status.ok()) {
    return status;
  }
  const std::string extensions = absl::StrCat(dir_, "/", file_stem, ".ext");
  WriteFileOrDie(extensions,
                 server ? "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                          "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                        : absl::StrCat("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
                                       "subjectAltName=DNS:",
                                       common_name, "\n"));
  if (absl::Status status = RunOpenssl(
          dir_, {"x509", "-req", "-in", csr, "-CA", ca_.cert_file, "-CAkey", ca_.key_file,
                 "-CAcreateserial", "-out", pair.cert_file, "-days", "2", "-extfile", extensions});
      !status.ok()) {
    return status;
  }
  return pair;
}

}  // namespace roster::testing
