#include "server/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <glog/logging.h>
#include <netdb.h>
#include <sys/socket.h>

#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

namespace roster::server {
namespace {

constexpr absl::string_view kFlag = " (--metrics_listen)";

// `listen` ("host:port", "[v6]:port", ":port") as civetweb's listening_ports value
// ("1.2.3.4:80", "[::1]:80", "80"). Host names are resolved here: civetweb takes numbers only.
absl::StatusOr<std::string> CivetwebPorts(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", listen, "' is not host:port", kFlag));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", listen, "': port is not in [0, 65535]", kFlag));
  }
  if (host.empty()) return port;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &addresses); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", listen, "': ", gai_strerror(rc), kFlag));
  }
  char numeric[NI_MAXHOST] = {};
  const int rc = getnameinfo(addresses->ai_addr, addresses->ai_addrlen, numeric, sizeof(numeric),
                             nullptr, 0, NI_NUMERICHOST);
  const bool v6 = addresses->ai_family == AF_INET6;
  freeaddrinfo(addresses);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", listen, "': ", gai_strerror(rc), kFlag));
  }
  return v6 ? absl::StrCat("[", numeric, "]:", port) : absl::StrCat(numeric, ":", port);
}

// civetweb's own messages (a client that vanished mid-request, ...): detail, not news.
int LogMessage(const mg_connection*, const char* message) {
  VLOG(1) << "civetweb: " << message;
  return 1;  // logged: civetweb writes nothing to stderr
}

void SendHeaders(mg_connection* connection, int code, const std::string& content_type,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string* length) {
  mg_response_header_start(connection, code);
  mg_response_header_add(connection, "Content-Type", content_type.c_str(), -1);
  if (length != nullptr) mg_response_header_add(connection, "Content-Length", length->c_str(), -1);
  for (const auto& [name, value] : headers) {
    mg_response_header_add(connection, name.c_str(), value.c_str(), -1);
  }
  mg_response_header_send(connection);
}

void Send(mg_connection* connection, const HttpRequest& request, const HttpResponse& response) {
  const std::string length = absl::StrCat(response.body.size());
  SendHeaders(connection, response.code, response.content_type, response.headers, &length);
  if (request.method != "HEAD") mg_write(connection, response.body.data(), response.body.size());
}

HttpResponse Text(int code, std::string body) {
  HttpResponse response;
  response.code = code;
  response.body = std::move(body);
  return response;
}

// Connects to `address` and closes at once (see Shutdown()).
void WakeAcceptLoop(const sockaddr_storage& address) {
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<const sockaddr*>(&address),
          address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  close(fd);
}

}  // namespace

std::string HttpRequest::Param(absl::string_view name) const {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t equals = pair.find('=');
    const absl::string_view key = pair.substr(0, equals);
    if (key != name) continue;
    if (equals == absl::string_view::npos) return "";
    const absl::string_view value = pair.substr(equals + 1);
    std::string decoded(value.size() + 1, '\0');
    const int n = mg_url_decode(value.data(), static_cast<int>(value.size()), decoded.data(),
                                static_cast<int>(decoded.size()), /*is_form_url_encoded=*/1);
    decoded.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return decoded;
  }
  return "";
}

HttpResponse HealthzResponse(const HealthzAnswer& answer) {
  if (answer.serving) return Text(200, "SERVING\n");
  return Text(503, absl::StrCat("NOT_SERVING\n", answer.reason, answer.reason.empty() ? "" : "\n"));
}

// A stream's writing end: writes go straight to civetweb, which gives up on a client that
// does not read within the request timeout.
class HttpServer::Stream final : public HttpStream {
 public:
  Stream(mg_connection* connection, const std::atomic<bool>* stopping)
      : connection_(connection), stopping_(stopping) {}

  bool Write(absl::string_view data) override {
    if (broken_ || !open()) return false;
    if (data.empty()) return true;
    broken_ = mg_write(connection_, data.data(), data.size()) <= 0;
    return !broken_;
  }
  bool open() const override { return !stopping_->load(); }

 private:
  mg_connection* const connection_;
  const std::atomic<bool>* const stopping_;
  bool broken_ = false;
};

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Handle(std::string path, Handler handler) {
  routes_[std::move(path)] = Route{std::move(handler), nullptr, ""};
}

void HttpServer::HandleStream(std::string path, std::string content_type, StreamHandler handler) {
  routes_[std::move(path)] = Route{nullptr, std::move(handler), std::move(content_type)};
}

absl::Status HttpServer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("the HTTP server was started already");
  if (options_.threads < 1 || options_.max_streams < 0 ||
      options_.max_streams > options_.threads - 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP server: ", options_.max_streams, " streams on ", options_.threads,
                     " threads leave fewer than two threads for other requests"));
  }
  if (options_.request_timeout <= absl::ZeroDuration() ||
      options_.keep_alive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP server: timeouts must be positive");
  }
  absl::StatusOr<std::string> ports = CivetwebPorts(options_.listen);
  if (!ports.ok()) return ports.status();
  started_ = true;

  const std::string threads = absl::StrCat(options_.threads);
  const std::string request_ms = absl::StrCat(absl::ToInt64Milliseconds(options_.request_timeout));
  const std::string idle_ms = absl::StrCat(absl::ToInt64Milliseconds(options_.keep_alive_timeout));
  const char* config[] = {"listening_ports",
                          ports->c_str(),
                          "num_threads",
                          threads.c_str(),
                          "request_timeout_ms",
                          request_ms.c_str(),
                          "keep_alive_timeout_ms",
                          idle_ms.c_str(),
                          "enable_keep_alive",
                          "yes",
                          "max_request_size",
                          "8192",
                          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &LogMessage;
  mg_init_data init{&callbacks, this, config};
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_init_library(0);
  context_ = mg_start2(&init, &error);
  if (context_ == nullptr) {
    mg_exit_library();
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on '", options_.listen, "': ", error_text, kFlag));
  }
  mg_set_request_handler(context_, "/", &HttpServer::Dispatch, this);
  mg_server_port bound[4] = {};
  const int n = mg_get_server_ports(context_, 4, bound);
  port_ = n > 0 ? bound[0].port : 0;
  // Where Shutdown() knocks: the bound address, or loopback for "every interface".
  wake_address_ = {};
  const std::string host = ports->substr(0, ports->rfind(':'));
  if (n > 0 && bound[0].protocol == 2) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&wake_address_);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port_.load()));
    const std::string numeric = host.size() > 2 ? host.substr(1, host.size() - 2) : "::1";
    if (inet_pton(AF_INET6, numeric.c_str(), &v6->sin6_addr) != 1 ||
        IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) {
      v6->sin6_addr = in6addr_loopback;
    }
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&wake_address_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port_.load()));
    if (host == *ports || inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1 ||
        v4->sin_addr.s_addr == htonl(INADDR_ANY)) {
      v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
  }
  return absl::OkStatus();
}

void HttpServer::Shutdown() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;  // streams see it at their next write or wake-up
  if (context_ == nullptr) return;
  // civetweb's accept loop polls its sockets for 2 s at a time and checks for mg_stop() in
  // between; connecting to it makes it look sooner, so shutting down takes milliseconds.
  absl::Notification stopped;
  const sockaddr_storage address = wake_address_;
  std::thread waker([&address, &stopped] {
    do {
      WakeAcceptLoop(address);
    } while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  });
  mg_stop(context_);  // joins the worker threads
  stopped.Notify();
  waker.join();
  context_ = nullptr;
  mg_exit_library();
}

int HttpServer::Dispatch(mg_connection* connection, void* self) {
  return static_cast<HttpServer*>(self)->Serve(connection);
}

int HttpServer::Serve(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "";
  request.query = info->query_string != nullptr ? info->query_string : "";
  const auto route = routes_.find(request.path);
  if (route == routes_.end()) {
    Send(connection, request, Text(404, absl::StrCat("no page at ", request.path, "\n")));
    return 404;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse refused = Text(405, "only GET and HEAD\n");
    refused.headers.emplace_back("Allow", "GET, HEAD");
    Send(connection, request, refused);
    return 405;
  }
  if (route->second.stream) {
    ServeStream(connection, route->second, request);
    return 200;
  }
  const HttpResponse response = route->second.handler(request);
  Send(connection, request, response);
  return response.code;
}

void HttpServer::ServeStream(mg_connection* connection, const Route& route,
                             const HttpRequest& request) {
  if (open_streams_.fetch_add(1) >= options_.max_streams) {
    open_streams_.fetch_sub(1);
    Send(connection, request,
         Text(503, absl::StrCat("too many streams open (", options_.max_streams,
                                "); close a status page or retry later\n")));
    return;
  }
  SendHeaders(connection, 200, route.stream_content_type,
              {{"Cache-Control", "no-store"}, {"Connection", "close"}}, nullptr);
  if (request.method != "HEAD") {
    Stream stream(connection, &stopping_);
    route.stream(request, &stream);
  }
  open_streams_.fetch_sub(1);
}

}  // namespace roster::server
