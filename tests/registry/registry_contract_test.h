// The registry contract suite: one set of scenarios (registry_contract_test.cc) that every
// Registry implementation must pass, run once per backend by instantiating
// RegistryContractTest with that backend's RegistryTestEnv:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, RegistryContractTest,
//                            ::testing::Values(RegistryEnvFactory{"memory", &NewMemoryTestEnv}),
//                            RegistryEnvName);
//
// and RegistryAclContractTest too when the backend has per-node ACLs.
//
// Thread-safety: test-thread only.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "registry/registry.h"
#include "tests/registry/registry_test_env.h"

namespace roster::testing {

class RegistryContractTest : public ::testing::TestWithParam<RegistryEnvFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A started, connected registry, shut down in TearDown(). Null (and a test failure) if it
  // cannot be built or does not connect.
  registry::Registry* Connect(const std::string& name, registry::RegistryOptions options = {});

  // The nodes below `root`, `depth` levels down, read afresh with GetChildren + Get:
  // path -> data (unreadable nodes are left out).
  static std::map<std::string, std::string> FreshRead(registry::Registry* registry,
                                                      const std::string& root, int depth);

  RegistryTestEnv* env() const { return env_.get(); }

 private:
  std::unique_ptr<RegistryTestEnv> env_;
  std::vector<std::unique_ptr<registry::Registry>> registries_;
};

// The scenarios of per-node ACLs and digest credentials, instantiated like RegistryContractTest
// for the backends that have them (ZooKeeper, the memory registry). etcd has neither
// (docs/registries.md): it does not instantiate them, and its own tests assert that it refuses
// a digest.
class RegistryAclContractTest : public RegistryContractTest {};

// Prints the environment's name in test failures (instead of the object's bytes).
inline void PrintTo(const RegistryEnvFactory& factory, std::ostream* os) { *os << factory.name; }

// Names instantiations after the environment ("memory", "zookeeper").
std::string RegistryEnvName(const ::testing::TestParamInfo<RegistryEnvFactory>& info);

}  // namespace roster::testing
