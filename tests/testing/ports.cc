#include "tests/testing/ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

namespace roster::testing {
namespace {

constexpr int kFirstPort = 20000;
constexpr int kEndPort = 32000;  // exclusive

bool Bindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

}  // namespace

int PickUnusedPort() {
  static absl::Mutex mu;
  static std::set<int>* taken ABSL_GUARDED_BY(mu) = new std::set<int>();
  static std::mt19937* random ABSL_GUARDED_BY(mu) = new std::mt19937(std::random_device()());
  absl::MutexLock lock(&mu);
  std::uniform_int_distribution<int> pick(kFirstPort, kEndPort - 1);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = pick(*random);
    if (taken->count(port) > 0 || !Bindable(port)) continue;
    taken->insert(port);
    return port;
  }
  LOG(FATAL) << "no free loopback port in [" << kFirstPort << ", " << kEndPort << ")";
}

}  // namespace roster::testing
