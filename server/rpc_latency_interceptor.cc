#include "server/rpc_latency_interceptor.h"

#include <chrono>

namespace roster::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcLatencyInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcLatencyInterceptor(std::string method, ServerMetrics* metrics)
      : method_(std::move(method)), metrics_(metrics), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      metrics_->ObserveRpcLatency(method_, methods->GetSendStatus().error_code(), elapsed.count());
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  ServerMetrics* const metrics_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcLatencyInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcLatencyInterceptorFactory(ServerMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // gRPC takes ownership; null means "not intercepted".
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) return nullptr;
    return new RpcLatencyInterceptor(ShortMethodName(info->method()), metrics_);
  }

 private:
  ServerMetrics* const metrics_;
};

}  // namespace

std::string ShortMethodName(absl::string_view full_method) {
  absl::string_view name = full_method;
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return std::string(full_method);
  const size_t dot = name.substr(0, slash).rfind('.');
  if (dot != absl::string_view::npos) name.remove_prefix(dot + 1);
  return std::string(name);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcLatencyInterceptorFactory(ServerMetrics* metrics) {
  return std::make_unique<RpcLatencyInterceptorFactory>(metrics);
}

}  // namespace roster::server
