#include "tests/server/server_test_env.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {

// ---- WatchClient ----------------------------------------------------------------------------

WatchClient::WatchClient(v1::Roster::Stub* stub, const v1::WatchClusterRequest& request,
                         bool paused) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(2)));
  reader_ = stub->WatchCluster(&context_, request);
  if (!paused) go_.Notify();
  thread_ = std::thread([this] {
    go_.WaitForNotification();
    v1::WatchClusterResponse message;
    while (reader_->Read(&message)) {
      absl::MutexLock lock(&mu_);
      messages_.push_back(message);
    }
    grpc::Status status = reader_->Finish();
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
    done_ = true;
  });
}

WatchClient::~WatchClient() {
  context_.TryCancel();
  if (!go_.HasBeenNotified()) go_.Notify();
  thread_.join();
}

std::vector<v1::WatchClusterResponse> WatchClient::messages() const {
  absl::MutexLock lock(&mu_);
  return messages_;
}

size_t WatchClient::size() const {
  absl::MutexLock lock(&mu_);
  return messages_.size();
}

bool WatchClient::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

grpc::Status WatchClient::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::vector<v1::ClusterEvent> WatchClient::events() const {
  std::vector<v1::ClusterEvent> events;
  for (const v1::WatchClusterResponse& message : messages()) {
    if (message.has_event()) events.push_back(message.event());
  }
  return events;
}

// ---- Health and reflection without generated stubs ------------------------------------------

HealthAnswer CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& service) {
  // Debian ships health.proto's service neither as a descriptor nor as a stub, and compiling
  // its gRPC stub ourselves would duplicate the messages rosterd already links in. A generic
  // stub typed on the compiled messages calls the method by name instead.
  grpc::TemplatedGenericStub<grpc::health::v1::HealthCheckRequest,
                             grpc::health::v1::HealthCheckResponse>
      stub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  CallContext context(absl::Seconds(5));
  absl::Notification done;
  HealthAnswer answer;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   answer.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  answer.serving = response.status();
  return answer;
}

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::Message;
using google::protobuf::MessageFactory;

// One request/response exchange on the reflection service's bidi stream. The messages are
// built from the descriptors grpc++_reflection registers in the generated pool: its headers
// are not installed, and compiling reflection.proto again would abort at start-up
// (docs/building.md).
absl::StatusOr<std::unique_ptr<Message>> Reflect(const std::shared_ptr<grpc::Channel>& channel,
                                                 const std::string& field,
                                                 const std::string& value) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  const Descriptor* request_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const Descriptor* response_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  if (request_type == nullptr || response_type == nullptr) {
    return absl::InternalError("grpc++_reflection's descriptors are not linked in");
  }
  std::unique_ptr<Message> request(
      MessageFactory::generated_factory()->GetPrototype(request_type)->New());
  request->GetReflection()->SetString(request.get(), request_type->FindFieldByName(field), value);
  std::unique_ptr<Message> response(
      MessageFactory::generated_factory()->GetPrototype(response_type)->New());

  grpc::TemplatedGenericStub<Message, Message> stub(channel);
  grpc::CompletionQueue cq;
  CallContext context(absl::Seconds(10));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&cq](int expected) {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return absl::UnavailableError("reflection call did not start");
  call->Write(*request, reinterpret_cast<void*>(2));
  if (!step(2)) return absl::UnavailableError("reflection request not written");
  call->Read(response.get(), reinterpret_cast<void*>(3));
  const bool read = step(3);
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  if (!read) {
    return absl::UnavailableError(absl::StrCat("no reflection answer: ", status.error_message()));
  }
  return response;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  absl::StatusOr<std::unique_ptr<Message>> response = Reflect(channel, "list_services", "*");
  if (!response.ok()) return response.status();
  const Message& message = **response;
  const Descriptor* type = message.GetDescriptor();
  const auto* list_field = type->FindFieldByName("list_services_response");
  if (!message.GetReflection()->HasField(message, list_field)) {
    return absl::InternalError(absl::StrCat("not a service list: ", message.DebugString()));
  }
  const Message& list = message.GetReflection()->GetMessage(message, list_field);
  const auto* service_field = list.GetDescriptor()->FindFieldByName("service");
  std::vector<std::string> names;
  for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field); ++i) {
    const Message& service = list.GetReflection()->GetRepeatedMessage(list, service_field, i);
    names.push_back(service.GetReflection()->GetString(
        service, service.GetDescriptor()->FindFieldByName("name")));
  }
  return names;
}

absl::StatusOr<google::protobuf::FileDescriptorProto> FileContainingSymbol(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol) {
  absl::StatusOr<std::unique_ptr<Message>> response =
      Reflect(channel, "file_containing_symbol", symbol);
  if (!response.ok()) return response.status();
  const Message& message = **response;
  const auto* files_field = message.GetDescriptor()->FindFieldByName("file_descriptor_response");
  if (!message.GetReflection()->HasField(message, files_field)) {
    return absl::NotFoundError(absl::StrCat("no file for ", symbol, ": ", message.DebugString()));
  }
  const Message& files = message.GetReflection()->GetMessage(message, files_field);
  const auto* bytes_field = files.GetDescriptor()->FindFieldByName("file_descriptor_proto");
  if (files.GetReflection()->FieldSize(files, bytes_field) == 0) {
    return absl::NotFoundError(absl::StrCat("empty file list for ", symbol));
  }
  google::protobuf::FileDescriptorProto file;
  if (!file.ParseFromString(files.GetReflection()->GetRepeatedString(files, bytes_field, 0))) {
    return absl::InternalError("unparsable FileDescriptorProto");
  }
  return file;
}

absl::StatusOr<std::pair<int, std::string>> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string reply;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) reply.append(buffer, n);
  close(fd);
  // "HTTP/1.0 200 OK\r\n...\r\n\r\nbody"
  const size_t space = reply.find(' ');
  const size_t body = reply.find("\r\n\r\n");
  int code = 0;
  if (space == std::string::npos || body == std::string::npos ||
      !absl::SimpleAtoi(reply.substr(space + 1, 3), &code)) {
    return absl::InternalError(absl::StrCat("not an HTTP reply: ", reply));
  }
  return std::make_pair(code, reply.substr(body + 4));
}

// ---- ServerTest -----------------------------------------------------------------------------

void ServerTest::SetUp() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  store_name_ = absl::StrCat("server_test_", counter.fetch_add(1), "_", test->name());
  options_.registry = absl::StrCat("memory://", store_name_);
  options_.listen = "127.0.0.1:0";
  options_.metrics_listen = "127.0.0.1:0";
  options_.health_check_interval_ms = 20;
  // These tests predate scopes: loopback callers may register and drain, as before
  // (tests/server/authz_test.cc covers scopes).
  options_.allow_loopback_writes = true;
  options_.slot_policy = "stable";  // roster's own rule; DolphinScheduler's in the e2e tests
  options_.resync_interval_ms = 60000;

  registry::RegistryOptions writer_options;
  writer_options.name = "writer";
  writer_ = std::make_unique<registry::MemoryRegistry>(registry::MemoryStore::Named(store_name_),
                                                       "", writer_options);
  ASSERT_OK(writer_->Start());
  ASSERT_OK(writer_->WaitConnected(absl::Seconds(10)));
  registry::CreateOptions parents;
  parents.create_parents = true;
  for (const char* dir : {kMasters, kWorkers, kAlertServers}) {
    ASSERT_OK(writer_->Create(dir, "", parents));
  }
}

void ServerTest::TearDown() {
  StopDaemon();
  if (writer_ != nullptr) writer_->Shutdown();
}

void ServerTest::CreateDaemon() { daemon_ = std::make_unique<server::Daemon>(options_); }

void ServerTest::StartCreatedDaemon(bool wait_until_serving) {
  ASSERT_OK(daemon_->Start());
  channel_ = grpc::CreateChannel(daemon_->address(), grpc::InsecureChannelCredentials());
  roster_ = v1::Roster::NewStub(channel_);
  registration_ = v1::Registration::NewStub(channel_);
  admin_ = v1::RosterAdmin::NewStub(channel_);
  if (wait_until_serving) {
    ASSERT_EVENTUALLY(daemon_->serving());
  }
}

void ServerTest::StartDaemon(bool wait_until_serving) {
  CreateDaemon();
  StartCreatedDaemon(wait_until_serving);
}

void ServerTest::StopDaemon() {
  roster_.reset();
  registration_.reset();
  admin_.reset();
  channel_.reset();
  if (daemon_ != nullptr) daemon_->Shutdown();
  daemon_.reset();
}

void ServerTest::AddNode(absl::string_view dir, absl::string_view address,
                         const std::string& payload) {
  registry::CreateOptions options;
  options.mode = registry::CreateMode::kEphemeral;
  options.create_parents = true;
  ASSERT_OK(writer_->Create(absl::StrCat(dir, "/", address), payload, options));
}

void ServerTest::AddWorker(absl::string_view address, absl::string_view status,
                           absl::string_view group) {
  AddNode(kWorkers, address,
          HeartbeatJson(status, 1729238400123, 23817, 1729238650456, 0.2, 0.3, group));
}

void ServerTest::AddMaster(absl::string_view address, absl::string_view status) {
  AddNode(kMasters, address, HeartbeatJson(status));
}

void ServerTest::SetPayload(absl::string_view dir, absl::string_view address,
                            const std::string& payload) {
  ASSERT_OK(writer_->Set(absl::StrCat(dir, "/", address), payload));
}

void ServerTest::RemoveNode(absl::string_view dir, absl::string_view address) {
  ASSERT_OK(writer_->Delete(absl::StrCat(dir, "/", address)));
}

void ServerTest::SetLeader(absl::string_view address) {
  registry::CreateOptions options;
  options.mode = registry::CreateMode::kEphemeral;
  options.create_parents = true;
  ASSERT_OK(writer_->Create(kCoordinator, std::string(address), options));
}

cluster::NodeInfoPtr ServerTest::Find(cluster::NodeRole role, absl::string_view address) const {
  return daemon_->cluster()->view()->Find(role, address);
}

bool ServerTest::InState(cluster::NodeRole role, absl::string_view address,
                         cluster::NodeState state) const {
  cluster::NodeInfoPtr node = Find(role, address);
  return node != nullptr && node->state == state;
}

uint64_t ServerTest::ViewVersion() const { return daemon_->cluster()->view()->version; }

void ServerTest::ExpectFreshMeta(const v1::ViewMeta& meta) const {
  EXPECT_EQ(meta.instance_id(), daemon_->instance_id());
  EXPECT_GT(meta.version(), 0u);
  EXPECT_LE(meta.version(), ViewVersion());
  EXPECT_EQ(meta.session_state(), v1::CONNECTED);
  EXPECT_FALSE(meta.syncing());
  EXPECT_FALSE(meta.stale());
  EXPECT_TRUE(meta.has_since_last_sync());
}

}  // namespace roster::testing
