#include "server/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/secret_file.h"
#include "util/status_macros.h"

namespace roster::server {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

absl::StatusOr<std::unique_ptr<X509, X509Free>> ReadCertificate(absl::string_view flag,
                                                                const std::string& path) {
  SecretFileOptions any_mode;  // certificates are public
  any_mode.allow_group_or_other_access = true;
  ASSIGN_OR_RETURN(const std::string pem, ReadSecretFile(flag, path, any_mode));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": not a PEM certificate: ", OpenSslError()));
  }
  return cert;
}

absl::Status CheckKeyMatches(const std::string& key_path, X509* cert) {
  // The key file must be private (mode 0600); its content is never quoted.
  ASSIGN_OR_RETURN(const std::string pem, ReadSecretFile("tls_key_file", key_path));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key_file=", key_path, ": not an unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key_file=", key_path, " does not belong to the certificate in --tls_cert_file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServerTls(ServerTlsOptions* options) {
  if (options->cert_file.empty() != options->key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together: give both, or neither");
  }
  if (!options->enabled()) {
    if (!options->client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs TLS: give --tls_cert_file and --tls_key_file too");
    }
    return absl::OkStatus();
  }
  if (options->refresh_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls_refresh_interval_s must be at least 1");
  }
  ASSIGN_OR_RETURN(options->cert_file, ResolveSecretPath("tls_cert_file", options->cert_file));
  ASSIGN_OR_RETURN(options->key_file, ResolveSecretPath("tls_key_file", options->key_file));
  ASSIGN_OR_RETURN(auto cert, ReadCertificate("tls_cert_file", options->cert_file));
  RETURN_IF_ERROR(CheckKeyMatches(options->key_file, cert.get()));
  if (!options->client_ca_file.empty()) {
    ASSIGN_OR_RETURN(options->client_ca_file,
                     ResolveSecretPath("tls_client_ca_file", options->client_ca_file));
    RETURN_IF_ERROR(ReadCertificate("tls_client_ca_file", options->client_ca_file).status());
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTlsOptions& options) {
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  const auto interval = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.refresh_interval)));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, options.client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

bool IsLoopbackListenAddress(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:")) return true;
  const size_t colon = listen.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  return absl::StartsWith(host, "127.") || host == "::1" || host == "localhost" ||
         absl::StartsWith(host, "::ffff:127.");
}

}  // namespace roster::server
