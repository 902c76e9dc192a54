// RegistryTestEnv: what the registry contract suite needs from a backend, so the same
// scenarios run on MemoryRegistry (label `unit`) and on ZooKeeperRegistry against a real
// ZooKeeper server (label `integration`). In the manner of Mesos'
// master_contender_detector_tests.cpp.
//
// Each contract test gets a fresh environment (SetUp/TearDown around it): an empty store or a
// freshly started server on a free loopback port, stopped and deleted afterwards.
//
// Thread-safety: used from the test thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"

namespace roster::testing {

class RegistryTestEnv {
 public:
  virtual ~RegistryTestEnv() = default;

  // "memory" or "zookeeper"; names the parameterised tests.
  virtual std::string Name() const = 0;

  virtual void SetUp() = 0;
  virtual void TearDown() = 0;

  // The URI a client of this environment passes to NewRegistry(), without a chroot.
  virtual std::string Uri() const = 0;

  // A new registry (not started) on this environment: each one is its own client session.
  std::unique_ptr<registry::Registry> NewRegistry(registry::RegistryOptions options = {});

  // Ends `registry`'s session from the server side, as ZooKeeper does when a session times
  // out: its ephemerals are deleted and the client is told its session expired.
  virtual void ExpireSession(registry::Registry* registry) = 0;

  // Stops the server, keeping its data; connected clients become SUSPENDED. StartServer()
  // brings it back with the same data and live sessions.
  virtual void StopServer() = 0;
  virtual void StartServer() = 0;

  // What this backend lacks that ZooKeeper has (docs/registries.md), for the contract tests of
  // those features to assert the backend's own behaviour. (Per-node ACLs and digest
  // credentials, which etcd lacks, have their own suite: RegistryAclContractTest.)
  // Server-side creation and modification times in Stat (etcd: none, both are 0).
  virtual bool HasNodeTimes() const { return true; }

  // The session timeout tests should configure: long enough to survive StopServer() +
  // StartServer(), short enough to keep expiry tests quick.
  virtual absl::Duration SessionTimeout() const { return absl::Seconds(8); }
};

// The environments, one per backend (memory_test_env.cc, zookeeper_test_env.cc,
// etcd_test_env.cc).
std::unique_ptr<RegistryTestEnv> NewMemoryTestEnv();
std::unique_ptr<RegistryTestEnv> NewZooKeeperTestEnv();
std::unique_ptr<RegistryTestEnv> NewEtcdTestEnv();

// A factory for value-parameterised suites: INSTANTIATE_TEST_SUITE_P(Memory, X,
// ::testing::Values(RegistryEnvFactory{"memory", &NewMemoryTestEnv})).
struct RegistryEnvFactory {
  std::string name;
  std::function<std::unique_ptr<RegistryTestEnv>()> make;
};

}  // namespace roster::testing
