// The memory:// environment of the registry contract suite: a uniquely named store per test,
// server faults through the store's hooks.

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "registry/memory/memory_registry.h"
#include "tests/registry/registry_test_env.h"

namespace roster::testing {
namespace {

class MemoryTestEnv final : public RegistryTestEnv {
 public:
  std::string Name() const override { return "memory"; }

  void SetUp() override {
    static std::atomic<int> next{0};
    // Named stores live until exit, so every test gets a name of its own.
    name_ = absl::StrCat("contract-", getpid(), "-", next++);
    store_ = registry::MemoryStore::Named(name_);
  }

  void TearDown() override { store_.reset(); }

  std::string Uri() const override { return absl::StrCat("memory://", name_); }

  void ExpireSession(registry::Registry* registry) override {
    auto* memory = dynamic_cast<registry::MemoryRegistry*>(registry);
    CHECK(memory != nullptr) << "not a MemoryRegistry";
    store_->ExpireSession(memory->session_id());
  }

  void StopServer() override { store_->DisconnectAll(); }
  void StartServer() override { store_->ReconnectAll(); }

 private:
  std::string name_;
  std::shared_ptr<registry::MemoryStore> store_;
};

}  // namespace

std::unique_ptr<RegistryTestEnv> NewMemoryTestEnv() { return std::make_unique<MemoryTestEnv>(); }

}  // namespace roster::testing
