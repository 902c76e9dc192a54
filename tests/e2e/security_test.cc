// Security end to end (docs/security.md): rosterd with mTLS and an access file, ZooKeeper and
// roster-sim as in the other e2e tests, clients presenting certificates made for the test by
// the `openssl` command line (tests/testing/test_pki.h).
//   - mTLS is required: no client certificate, or one from another CA, cannot call anything;
//   - scopes: a read-only identity is refused Registration and RosterAdmin with
//     PERMISSION_DENIED; the registrar may register, the operator may drain;
//   - leases: a heartbeat or deregistration with someone else's (or no) lease id is refused;
//   - squatting: an address a live ZooKeeper node or another registration holds is refused;
//   - secrets: a world-readable secret file, or plaintext on a non-loopback address, fails the
//     start; no token reaches a log; the server certificate is re-read without a restart.
#include <glog/logging.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/roster_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_pki.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A bearer token long and odd enough that finding it in a log cannot be a coincidence.
constexpr char kCiToken[] = "ci-7Qm2vX9pL4rT8wZ1kB6nD3sF0hJ5yC";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// SHA-256 of `text` in hex, by the openssl command line: an oracle independent of rosterd.
std::string OpensslSha256(const std::string& dir, const std::string& text) {
  const std::string input = dir + "/token.txt";
  const std::string output = dir + "/token.sha256";
  WriteFileOrDie(input, text);
  Subprocess::Options options;
  options.argv = {"openssl", "dgst", "-sha256", "-r", "-out", output, input};
  options.log_path = dir + "/openssl.log";
  auto child = Subprocess::Start(std::move(options));
  CHECK(child.ok()) << child.status();
  CHECK((*child)->Wait(absl::Seconds(30)).ok());
  return std::string(absl::StripAsciiWhitespace(ReadAll(output).substr(0, 64)));
}

v1::RegisterNodeRequest Worker(const std::string& address) {
  v1::RegisterNodeRequest request;
  request.set_role(v1::WORKER);
  request.set_address(address);
  request.mutable_heartbeat()->set_server_status(v1::Heartbeat::NORMAL);
  request.mutable_lease()->set_seconds(30);
  return request;
}

class SecurityTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    auto pki = TestPki::Create(dir_.Child("pki"), "roster-test-ca");
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
    for (const char* name : {"registrar-a", "registrar-b", "operator", "reader"}) {
      auto pair = pki_->Issue(name, name, /*server=*/false);
      ASSERT_TRUE(pair.ok()) << pair.status();
      clients_[name] = *pair;
    }
    auto server = pki_->Issue("server", "localhost", /*server=*/true);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    // The same name, signed by a CA rosterd does not trust.
    auto rogue = TestPki::Create(dir_.Child("rogue"), "rogue-ca");
    ASSERT_TRUE(rogue.ok()) << rogue.status();
    auto forged = rogue->Issue("registrar-a", "registrar-a", false);
    ASSERT_TRUE(forged.ok()) << forged.status();
    forged_ = *forged;

    access_file_ = dir_.Child("access");
    WriteSecretFileOrDie(access_file_,
                         absl::StrCat("cert registrar-a register,read\n"
                                      "cert registrar-b register,read\n"
                                      "cert operator   admin,read\n"
                                      "cert reader     read\n"
                                      "token ci sha256:",
                                      OpensslSha256(dir_.path(), kCiToken), " read\n"));
  }

  // rosterd with mTLS, the access file, reads closed, no loopback writes.
  RosterdProcess* StartSecure(std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = {"--tls_cert_file=" + server_.cert_file,
                                      "--tls_key_file=" + server_.key_file,
                                      "--tls_client_ca_file=" + pki_->ca_cert_file(),
                                      "--access_file=" + access_file_,
                                      "--tls_refresh_interval_s=1",
                                      "--allow_unauthenticated_read=false",
                                      "--allow_loopback_writes=false"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return StartRosterd(std::move(flags));
  }

  // A client of `daemon` over TLS (trusting `ca`, default the test CA), presenting `identity`
  // (null: no certificate), sending `token` (empty: none). One attempt per call.
  std::unique_ptr<client::RosterClient> Client(RosterdProcess* daemon,
                                               const TestPki::Pair* identity,
                                               const std::string& token = "",
                                               const std::string& ca = "") {
    client::ClientOptions options;
    options.target = daemon->target();
    options.deadline = absl::Seconds(5);
    options.max_attempts = 1;
    options.tls_ca_file = ca.empty() ? pki_->ca_cert_file() : ca;
    if (identity != nullptr) {
      options.tls_cert_file = identity->cert_file;
      options.tls_key_file = identity->key_file;
    }
    options.token = token;
    auto client = client::RosterClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  std::unique_ptr<client::RosterClient> As(RosterdProcess* daemon, const std::string& name) {
    return Client(daemon, &clients_.at(name));
  }

  // A simulated cluster (one master, one worker) and a secure rosterd with `flags`, with two
  // registrars as clients (a_, b_), fresh. Use with ASSERT_NO_FATAL_FAILURE.
  void StartWithTwoRegistrars(std::vector<std::string> flags = {}) {
    StartSim(1, 1, "etl");
    daemon_ = StartSecure(std::move(flags));
    ASSERT_NE(daemon_, nullptr);
    a_ = As(daemon_, "registrar-a");
    b_ = As(daemon_, "registrar-b");
    ASSERT_TRUE(WaitFresh(a_.get())) << daemon_->LogTail();
  }

  // Until `daemon` has read the registry (as seen by `reader`).
  bool WaitFresh(client::RosterClient* reader) {
    return WaitFor(
        [&] {
          auto view = reader->GetClusterView();
          return view.ok() && !view->meta().syncing() && !view->meta().stale();
        },
        kReactTimeout);
  }

  // Runs rosterd with `flags` to its exit; its exit status and output.
  std::pair<int, std::string> RunToExit(std::vector<std::string> flags) {
    Subprocess::Options options;
    options.argv = {ROSTERD_PATH, "--registry=memory://", "--metrics_listen="};
    options.argv.insert(options.argv.end(), flags.begin(), flags.end());
    options.log_path = dir_.Child("refused.log");
    auto child = Subprocess::Start(std::move(options));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return {-1, ""};
    absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(30));
    EXPECT_TRUE(status.ok()) << "rosterd did not exit: " << (*child)->LogTail();
    const int code = status.ok() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return {code, (*child)->LogTail()};
  }

  std::unique_ptr<TestPki> pki_;
  std::map<std::string, TestPki::Pair> clients_;
  // Set by StartWithTwoRegistrars().
  std::unique_ptr<client::RosterClient> a_;
  std::unique_ptr<client::RosterClient> b_;
  TestPki::Pair server_;
  TestPki::Pair forged_;
  std::string access_file_;
};

TEST_F(SecurityTest, MtlsIsRequiredForRegistrationAndAdmin) {
  StartSim(1, 2, "etl");
  RosterdProcess* daemon = StartSecure();
  ASSERT_NE(daemon, nullptr);
  auto reader = As(daemon, "reader");
  ASSERT_TRUE(WaitFresh(reader.get())) << daemon->LogTail();
  ASSERT_OK_AND_ASSIGN(std::vector<SimProcess::Node> nodes, sim_->List());
  const std::string worker = nodes.back().address;

  v1::DrainNodeRequest drain;
  drain.set_address(worker);
  drain.set_reason("maintenance");
  // No client certificate, a certificate from another CA, or plaintext: no call gets through.
  auto anonymous = Client(daemon, nullptr);
  auto forged = Client(daemon, &forged_);
  for (client::RosterClient* client : {anonymous.get(), forged.get()}) {
    EXPECT_THAT(client->RegisterNode(Worker("127.0.0.1:7301")),
                StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(client->DrainNode(drain), StatusIs(absl::StatusCode::kUnavailable));
  }
  v1::RegisterNodeResponse ignored;
  grpc::ClientContext plaintext;
  plaintext.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  EXPECT_EQ(daemon->registration()
                .RegisterNode(&plaintext, Worker("127.0.0.1:7301"), &ignored)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // The read-only identity: reads yes, writes PERMISSION_DENIED.
  EXPECT_THAT(reader->GetClusterView().status(), IsOk());
  EXPECT_THAT(reader->RegisterNode(Worker("127.0.0.1:7301")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("register scope"), HasSubstr("cert:reader"))));
  EXPECT_THAT(reader->DrainNode(drain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admin scope")));
  // So is a read-only bearer token, over the same mTLS connection.
  auto ci = Client(daemon, &clients_.at("reader"), kCiToken);
  EXPECT_THAT(ci->ListWorkers().status(), IsOk());
  EXPECT_THAT(ci->RegisterNode(Worker("127.0.0.1:7301")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("token:ci")));
  // The registrar may register but not drain; the operator may drain but not register.
  auto registrar = As(daemon, "registrar-a");
  ASSERT_OK_AND_ASSIGN(v1::RegisterNodeResponse registered,
                       registrar->RegisterNode(Worker("127.0.0.1:7301")));
  EXPECT_EQ(registered.lease_id().size(), 64u);
  EXPECT_THAT(registrar->DrainNode(drain), StatusIs(absl::StatusCode::kPermissionDenied));
  auto operator_client = As(daemon, "operator");
  EXPECT_THAT(operator_client->RegisterNode(Worker("127.0.0.1:7302")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(v1::DrainNodeResponse drained, operator_client->DrainNode(drain));
  EXPECT_EQ(drained.node().state(), v1::OFFLINE);

  // rosterctl takes the same credentials: the reader lists members, and may not drain.
  const TestPki::Pair& as_reader = clients_.at("reader");
  const std::vector<std::string> tls = {
      "--target=" + daemon->target(), "--tls_ca_file=" + pki_->ca_cert_file(),
      "--tls_cert_file=" + as_reader.cert_file, "--tls_key_file=" + as_reader.key_file};
  auto with_tls = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tls.begin(), tls.end());
    return args;
  };
  CliResult members = RunRosterctl(dir_.path(), with_tls({"members"}));
  EXPECT_EQ(members.exit_code, 0) << members.err;
  EXPECT_THAT(members.out, HasSubstr(worker));
  CliResult refused = RunRosterctl(dir_.path(), with_tls({"undrain", worker}));
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_THAT(refused.err, AllOf(HasSubstr("PERMISSION_DENIED"), HasSubstr("admin scope")));
  CliResult plaintext_cli = RunRosterctl(dir_.path(), {"--target=" + daemon->target(), "members"});
  EXPECT_EQ(plaintext_cli.exit_code, 1) << plaintext_cli.err;

  // The audit log says who did what from where; no log holds the token.
  const std::string log = ReadAll(daemon->process().log_path());
  EXPECT_THAT(log, HasSubstr(absl::StrCat("AUDIT drain node='", worker, "' by='cert:operator'")));
  EXPECT_THAT(log, HasSubstr("AUDIT register node='127.0.0.1:7301' by='cert:registrar-a' from='"));
  // Every log this test's processes wrote (rosterd, roster-sim, ZooKeeper, openssl).
  int logs = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    const std::string extension = entry.path().extension().string();
    if (extension != ".log" && extension != ".out" && extension != ".err") continue;
    ++logs;
    const std::string text = ReadAll(entry.path().string());
    EXPECT_THAT(text, Not(HasSubstr(kCiToken))) << entry.path();
    EXPECT_THAT(text, Not(HasSubstr(registered.lease_id()))) << entry.path();
  }
  EXPECT_GE(logs, 2);
}

TEST_F(SecurityTest, AForgedHeartbeatOrDeregistrationIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWithTwoRegistrars());
  RosterdProcess* daemon = daemon_;
  client::RosterClient* a = a_.get();
  client::RosterClient* b = b_.get();
  ASSERT_OK_AND_ASSIGN(v1::RegisterNodeResponse registered,
                       a->RegisterNode(Worker("127.0.0.1:7311")));

  v1::HeartbeatRequest heartbeat;
  heartbeat.set_address("127.0.0.1:7311");
  heartbeat.mutable_heartbeat()->set_server_status(v1::Heartbeat::BUSY);
  v1::DeregisterNodeRequest deregister;
  deregister.set_address("127.0.0.1:7311");
  // Another identity, with no lease id or a made-up one.
  for (const std::string& lease : {std::string(), std::string(64, 'a'), std::string("x")}) {
    heartbeat.set_lease_id(lease);
    deregister.set_lease_id(lease);
    EXPECT_THAT(b->Heartbeat(heartbeat),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("lease_id")));
    EXPECT_THAT(b->DeregisterNode(deregister), StatusIs(absl::StatusCode::kPermissionDenied));
    // The owner's identity does not help either: the lease id is what owns it.
    EXPECT_THAT(a->Heartbeat(heartbeat), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  // The refusals came before any write; the owner, with its lease id, may.
  heartbeat.set_lease_id(registered.lease_id());
  ASSERT_OK(a->Heartbeat(heartbeat).status());
  deregister.set_lease_id(registered.lease_id());
  ASSERT_OK(a->DeregisterNode(deregister).status());
  EXPECT_THAT(ReadAll(daemon->process().log_path()),
              HasSubstr("AUDIT forged-heartbeat node='127.0.0.1:7311' by='cert:registrar-b'"));
}

TEST_F(SecurityTest, AnAddressSquatIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWithTwoRegistrars());
  client::RosterClient* a = a_.get();
  client::RosterClient* b = b_.get();
  ASSERT_OK_AND_ASSIGN(std::vector<SimProcess::Node> nodes, sim_->List());
  ASSERT_EQ(nodes.size(), 2u);

  // A live ZooKeeper node's address (the simulator's worker and master).
  for (const SimProcess::Node& node : nodes) {
    v1::RegisterNodeRequest squat = Worker(node.address);
    squat.set_role(node.role == "master" ? v1::MASTER : v1::WORKER);
    EXPECT_THAT(a->RegisterNode(squat), StatusIs(absl::StatusCode::kAlreadyExists)) << node.address;
  }
  // Another registration's address, with or without a made-up lease id.
  ASSERT_OK_AND_ASSIGN(v1::RegisterNodeResponse registered,
                       a->RegisterNode(Worker("127.0.0.1:7321")));
  v1::RegisterNodeRequest squat = Worker("127.0.0.1:7321");
  EXPECT_THAT(b->RegisterNode(squat),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("another registration")));
  squat.set_lease_id(std::string(64, '0'));
  EXPECT_THAT(b->RegisterNode(squat), StatusIs(absl::StatusCode::kAlreadyExists));
  // The holder renews with its lease id.
  squat.set_lease_id(registered.lease_id());
  ASSERT_OK_AND_ASSIGN(v1::RegisterNodeResponse renewed, a->RegisterNode(squat));
  EXPECT_EQ(renewed.lease_id(), registered.lease_id());
}

TEST_F(SecurityTest, RegistrationsAreCappedPerIdentity) {
  ASSERT_NO_FATAL_FAILURE(StartWithTwoRegistrars({"--max_registrations_per_identity=2"}));
  client::RosterClient* a = a_.get();
  client::RosterClient* b = b_.get();
  ASSERT_OK(a->RegisterNode(Worker("127.0.0.1:7331")).status());
  ASSERT_OK(a->RegisterNode(Worker("127.0.0.1:7332")).status());
  EXPECT_THAT(a->RegisterNode(Worker("127.0.0.1:7333")),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max_registrations_per_identity")));
  EXPECT_THAT(b->RegisterNode(Worker("127.0.0.1:7333")).status(), IsOk());
}

TEST_F(SecurityTest, ACallerOverItsRateIsRefused) {
  RosterdProcess* daemon = StartSecure({"--max_requests_per_second_per_client=1"});
  ASSERT_NE(daemon, nullptr);
  auto reader = As(daemon, "reader");
  auto other = As(daemon, "registrar-a");
  // One call a second: of ten calls in a row, most are refused (RESOURCE_EXHAUSTED, naming the
  // flag); another identity has its own budget.
  ASSERT_EVENTUALLY(reader->Ping().ok());
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    absl::Status status = reader->Ping().status();
    if (absl::IsResourceExhausted(status)) {
      ++refused;
      EXPECT_THAT(
          std::string(status.message()),
          AllOf(HasSubstr("cert:reader"), HasSubstr("--max_requests_per_second_per_client")));
    }
  }
  EXPECT_GE(refused, 5);
  ASSERT_EVENTUALLY(other->Ping().ok());
}

TEST_F(SecurityTest, AWorldReadableSecretFileIsRefusedAtStart) {
  const std::string token = dir_.Child("admin-token");
  WriteFileOrDie(token, "s3cret\n");
  ASSERT_EQ(chmod(token.c_str(), 0644), 0);
  auto [code, output] = RunToExit({"--listen=127.0.0.1:0", "--admin_token_file=" + token});
  EXPECT_NE(code, 0);
  EXPECT_THAT(output, AllOf(HasSubstr("--admin_token_file=" + token), HasSubstr("group or others"),
                            HasSubstr("chmod 600 " + token)));
  EXPECT_THAT(output, Not(HasSubstr("s3cret")));

  // The TLS private key and the access file too.
  ASSERT_EQ(chmod(server_.key_file.c_str(), 0644), 0);
  std::tie(code, output) =
      RunToExit({"--listen=127.0.0.1:0", "--tls_cert_file=" + server_.cert_file,
                 "--tls_key_file=" + server_.key_file});
  EXPECT_NE(code, 0);
  EXPECT_THAT(output, AllOf(HasSubstr("--tls_key_file="), HasSubstr("chmod 600")));
  ASSERT_EQ(chmod(access_file_.c_str(), 0640), 0);
  std::tie(code, output) = RunToExit({"--listen=127.0.0.1:0", "--access_file=" + access_file_});
  EXPECT_NE(code, 0);
  EXPECT_THAT(output, AllOf(HasSubstr("--access_file="), HasSubstr("chmod 600")));

  // Plaintext on an address other machines can reach, unless asked for explicitly.
  std::tie(code, output) = RunToExit({"--listen=0.0.0.0:0"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output,
              AllOf(HasSubstr("--listen=0.0.0.0:0"), HasSubstr("--allow_plaintext_listen")));
}

TEST_F(SecurityTest, TheServerCertificateIsReloadedWithoutARestart) {
  RosterdProcess* daemon = StartSecure();
  ASSERT_NE(daemon, nullptr);
  auto reader = As(daemon, "reader");
  ASSERT_TRUE(WaitFresh(reader.get())) << daemon->LogTail();
  // A client that trusts only a new CA cannot connect ...
  auto next = TestPki::Create(dir_.Child("next"), "next-ca");
  ASSERT_TRUE(next.ok()) << next.status();
  auto next_client = Client(daemon, &clients_.at("reader"), "", next->ca_cert_file());
  EXPECT_THAT(next_client->Ping(), StatusIs(absl::StatusCode::kUnavailable));
  // ... until rosterd's certificate is replaced by one that CA signed (same files, in place).
  auto renewed = next->Issue("server", "localhost", true);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(rename(renewed->key_file.c_str(), server_.key_file.c_str()), 0);
  ASSERT_EQ(rename(renewed->cert_file.c_str(), server_.cert_file.c_str()), 0);
  ASSERT_EVENTUALLY(Client(daemon, &clients_.at("reader"), "", next->ca_cert_file())->Ping().ok());
  EXPECT_TRUE(daemon->process().Running());
}

}  // namespace
}  // namespace roster::testing
